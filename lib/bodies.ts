/**
 * How file bodies reach a receiver, behind one interface (iperf3's
 * `struct protocol`, for pasa): TCP chunks (lib/tcp_bodies.ts) or UDP
 * datagrams (lib/udp_bodies.ts). The session asks its transport for each
 * file's body in turn, then checks the sender's `file-end`, commits and
 * confirms the same way whatever carried it; a third transport (multicast)
 * implements this interface and touches nothing else.
 *
 * @module
 */

import type { FrameReader } from "./frames.ts";
import type { FileSink, Target } from "./fsio.ts";
import type { Link } from "./link.ts";
import type { Accept, Entry, Message } from "./protocol.ts";
import type { ReceiveOptions } from "./receive.ts";
import type { Prefix } from "./resume.ts";
import type { TransferState } from "./session.ts";
import type { UdpStats } from "./udp.ts";

/** A manifest entry that is a file. */
export type FileEntry = Extract<Entry, { type: "file" }>;

/** One file's body, received whole: its length, its SHA-256, where it is. */
export interface FileBody {
  bytes: number;
  sha256: string;
  sink: FileSink;
}

/** What resuming settled: the prefixes offered, and where each body starts. */
export interface ResumeState {
  prefixes: Map<number, Prefix>;
  starts: Map<number, number>;
}

/** What every transport gets from the session. */
export interface BodyContext {
  link: Link;
  reader: FrameReader;
  send: (m: Message, options?: { quiet?: boolean }) => Promise<void>;
  dest: Target;
  state: TransferState;
  options: ReceiveOptions;
  /** Directories this session made or found. */
  known: Set<string>;
  /** Files already under their final names (offered whole for resuming). */
  present: Set<string>;
  resume: ResumeState;
  /** The manifest's files, in index order. */
  files: FileEntry[];
}

/** One way file bodies arrive. */
export interface BodyTransport {
  /** What resume prefixes are counted in: 1 (bytes), or a UDP slot. */
  readonly align: number;
  /** Of the files already here, those it can confirm whole by resuming. */
  offerable(present: Set<string>): Set<string>;
  /** The `udp` member of the accept, if it has one. */
  acceptMember(): Accept["udp"];
  /** Readies for the first body: called before the accept, or the last resume answer. */
  ready(): Promise<void>;
  /** The accept and the resume answers are out: what runs alongside may start. */
  start(): void;
  /** Receives file `index`'s body; undefined when it stays incomplete (kept as `.part`). */
  receive(index: number): Promise<FileBody | undefined>;
  /** The body checked out: puts it under its final name. */
  commit(body: FileBody, entry: FileEntry): Promise<void>;
  /** `error` cut the transfer: keeps what a rerun can resume, discards the rest. */
  abandon(error: unknown): Promise<void>;
  /** Statistics for `done` and the summary (UDP's). */
  stats(complete: boolean): UdpStats | undefined;
  /** Stops what runs alongside; called once every body is in, and again at the end. */
  close(): void;
}

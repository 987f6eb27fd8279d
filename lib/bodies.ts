/**
 * How file bodies travel, behind one interface for each end (iperf3's
 * `struct protocol`, for pasa): TCP chunks (lib/tcp_bodies.ts) or UDP
 * datagrams (lib/udp_bodies.ts). A receiving session asks its transport for
 * each file's body in turn, then checks the sender's `file-end`, commits and
 * confirms the same way whatever carried it; a sending session hands it each
 * file and sends `file-end` after. A third transport (multicast) implements
 * these two interfaces and touches nothing else.
 *
 * @module
 */

import type { ByteSource, FrameReader } from "./frames.ts";
import type { FileSink, Present, Target } from "./fsio.ts";
import type { Link } from "./link.ts";
import type { PasaError } from "./errors.ts";
import type { Accept, Done, Entry, Message } from "./protocol.ts";
import type { ReceiveOptions } from "./receive.ts";
import type { Prefix, SendStart } from "./resume.ts";
import type { TransferState } from "./session.ts";
import type { UdpStats } from "./udp.ts";
import type { Pattern } from "./pattern.ts";

/** A manifest entry that is a file. */
export type FileEntry = Extract<Entry, { type: "file" }>;

/** One file's body, received whole: its length, its SHA-256, where it is. */
export interface FileBody {
  bytes: number;
  /** Of those, the bytes already here before this transfer (a resumed prefix, kept slots; all of a skipped file). */
  resumed: number;
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
  present: Present;
  resume: ResumeState;
  /** The manifest's files, in index order. */
  files: FileEntry[];
  /** A measurement's generated payload: bodies are compared with it, not hashed or stored. */
  pattern?: Pattern;
}

/** One way file bodies arrive. */
export interface BodyTransport {
  /** What resume prefixes are counted in: 1 (bytes), or a UDP slot. */
  readonly align: number;
  /** The `udp` member of the accept, if it has one. */
  acceptMember(): Accept["udp"];
  /** Readies for the first body: called before the accept, or the last resume answer. */
  ready(): Promise<void>;
  /** The accept and the resume answers are out: what runs alongside may start. */
  start(): void;
  /** Receives file `index`'s body; undefined when it stays incomplete (`--lossy`: not kept). */
  receive(index: number): Promise<FileBody | undefined>;
  /** The body checked out: puts it under its final name. */
  commit(body: FileBody, entry: FileEntry): Promise<void>;
  /** Whether its bodies may be committed in groups by the session (they are whole files, in order). */
  readonly groupCommit: boolean;
  /** The session takes the body just received, to commit it with others: forget it. */
  handOver(): void;
  /** `error` cut the transfer: keeps what a rerun can resume, discards the rest. */
  abandon(error: unknown): Promise<void>;
  /** Statistics for `done` and the summary (UDP's). */
  stats(complete: boolean): Promise<UdpStats | undefined>;
  /** Stops what runs alongside; called once every body is in, and again at the end. */
  close(): void;
}

/** What a sender sent of one file's body. */
export interface SentBody {
  bytes: number;
  /** Of those, the bytes the receiver already had (a resumed prefix, kept slots; all of a skipped file). */
  resumed: number;
  sha256: string;
  /** False for a `--lossy` file that did not arrive whole (no `file-end` for it). */
  complete: boolean;
}

/** What a sending session tells the user as bodies start. */
export interface SendHooks {
  onResumed?: (name: string, offset: number, kept: number) => void;
  onSkipped?: (name: string) => void;
}

/** The sending end of a body transport. */
export interface BodySender {
  /** Sends file `index`'s body from `input`, after `start` when resuming. */
  send(
    index: number,
    entry: FileEntry,
    input: ByteSource,
    start: SendStart | undefined,
  ): Promise<SentBody>;
  /** A read failed mid-body: tells the receiver the file is abandoned, where it can. */
  abort(error: PasaError): Promise<void>;
  /**
   * Whether a body is under way on the connection itself (TCP): an error
   * must then follow an abort, or the receiver reads it as a chunk length.
   */
  readonly midBody: boolean;
  /** Sends a `file-end` frame after a body, as this transport does. */
  end(frame: Uint8Array): Promise<void>;
  /** Writes out whatever it gathered: before the session waits on the receiver. */
  flush(): Promise<void>;
  /** Takes the receiver's frames meant for the transport (UDP's), if it has any. */
  readonly onReply: ((m: Message) => void) | undefined;
  /** The session failed: wakes whatever waits on the receiver. */
  fail(error: PasaError): void;
  /** Statistics for the summary, from the receiver's `done` too. */
  stats(done: Done, complete: boolean): UdpStats | undefined;
  /** Releases the transport's socket, if it has one. */
  close(): void;
}

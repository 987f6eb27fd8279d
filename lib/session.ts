/**
 * What both ends of a session share: the handshake, the live state a
 * progress bar reads, the result objects, and how a session ends (telling
 * the peer why, then closing without losing that message).
 *
 * @module
 */

import {
  AuthError,
  codeOf,
  errorFromPeer,
  PasaError,
  ProtocolError,
} from "./errors.ts";
import { type FrameReader, writeAll, writeControl } from "./frames.ts";
import type { Link } from "./link.ts";
import {
  decodePreamble,
  encodeControl,
  encodeControlInto,
  encodePreamble,
  type Entry,
  type Hello,
  MAX_CONTROL_FRAME,
  type Message,
  type Role,
  VERSION,
} from "./protocol.ts";
import { INSECURE_MODE, pair, SECURE_MODE } from "./secure.ts";
import type { UdpStats } from "./udp.ts";
import { SOFTWARE } from "./version.ts";

/** The security mode of a session over `link`: paired and encrypted, or not. */
export function securityMode(link: Link): string {
  return link.pairing ? SECURE_MODE : INSECURE_MODE;
}

/**
 * Live counters of a transfer, written by the session and read by the
 * progress bar on its own clock, so the data path does no rendering.
 */
export class TransferState {
  /** Files in the manifest. */
  files = 0;
  /** Sum of file sizes; `null` while a size is unknown (standard input). */
  totalBytes: number | null = 0;
  /** Index among files of the file in flight; -1 before the first. */
  index = -1;
  /** Wire name of the file in flight. */
  name = "";
  /** Size of the file in flight, or `null` if unknown. */
  fileSize: number | null = 0;
  /** Bytes of the file in flight moved so far. */
  fileBytes = 0;
  /** Bytes of all files moved so far. */
  doneBytes = 0;
  /** When the first body byte moved (performance.now()), or -1. */
  startedAt = -1;

  /** Sets the manifest's totals. */
  setManifest(entries: readonly Entry[]): void {
    let files = 0;
    let total: number | null = 0;
    for (const e of entries) {
      if (e.type !== "file") continue;
      files++;
      total = total === null || e.size === null ? null : total + e.size;
    }
    this.files = files;
    this.totalBytes = total;
  }

  /** Starts the next file. */
  beginFile(index: number, name: string, size: number | null): void {
    if (this.startedAt < 0) this.startedAt = performance.now();
    this.index = index;
    this.name = name;
    this.fileSize = size;
    this.fileBytes = 0;
  }
}

export type { FileResult } from "./accounting.ts";
import type { FileResult } from "./accounting.ts";

/** A finished transfer, from one side. */
export interface TransferResult {
  role: Role;
  peer: string;
  /** Each confirmed file's result; empty when the session was told not to keep them (`keepFiles: false`). */
  files: FileResult[];
  /** Files confirmed, kept in `files` or not. */
  fileCount: number;
  /** Of those, the files taken unchanged (same size and modification time, not read). */
  unchangedFiles: number;
  /** Directories in the manifest (created by the receiver). */
  dirs: number;
  /** The files' sizes together. */
  bytes: number;
  /** Of those, the bytes already on the receiver (resumed, skipped). */
  resumedBytes: number;
  /** Of those, the bytes of files taken unchanged: same size and modification time, not read. */
  unchangedBytes: number;
  /** Of those, the bytes this transfer sent. */
  sentBytes: number;
  seconds: number;
  /** Goodput: `sentBytes / seconds`. */
  bytesPerSecond: number;
  /** Whether every file was checked against the sender's SHA-256. */
  verified: boolean;
  /** UDP mode statistics (both sides' figures joined). */
  udp?: UdpStats;
  /** `--lossy` files that did not arrive whole (not kept: a measurement leaves no part). */
  incomplete?: string[];
  /** Whether the session was paired and encrypted (false: `--insecure`). */
  encrypted?: boolean;
  /** A measurement (`pasa bench`): verified, then nothing kept. */
  measurement?: boolean;
  /** A measurement whose generated payload was compared byte for byte (no SHA-256). */
  patternChecked?: boolean;
}

/**
 * Exchanges preambles and `hello` frames (both sides write first and then
 * read, so neither waits on the other), then pairs and switches to
 * encrypted records unless the session is `--insecure`. Returns the peer's
 * hello.
 */
export async function handshake(
  link: Link,
  reader: FrameReader,
  role: Role,
  options: { sameRole?: boolean } = {},
): Promise<Hello> {
  const hello: Hello = {
    type: "hello",
    role,
    software: SOFTWARE,
    security: [securityMode(link)],
  };
  const helloFrame = encodeControl(hello);
  const opening = new Uint8Array(8 + helloFrame.length);
  opening.set(encodePreamble(), 0);
  opening.set(helloFrame, 8);
  await writeAll(link, opening);
  const version = decodePreamble(await reader.readExact(8, "preamble"));
  if (version !== VERSION) {
    throw new ProtocolError(
      `Peer speaks protocol version ${version}; this pasa speaks version ${VERSION}`,
      "version",
    );
  }
  const peer = await reader.readControl();
  if (peer.type === "error") throw errorFromPeer(peer.code, peer.message);
  if (peer.type !== "hello") {
    throw new ProtocolError(`Expected a hello frame, got ${peer.type}`);
  }
  // A bench --reverse client is a receiver talking to a receiver: the caller decides.
  if (peer.role === role && !options.sameRole) {
    const other = role === "sender" ? "pasa receive" : "pasa send";
    throw new ProtocolError(
      `Both sides are ${role}s: run ${other} on the other machine`,
      "role",
    );
  }
  // No silent downgrade: both sides must ask for the same mode.
  if (!peer.security.includes(securityMode(link))) {
    throw new AuthError(
      link.pairing
        ? "The other side runs with --insecure (no code, no encryption): use --insecure on both sides, or on neither"
        : peer.security.includes(SECURE_MODE)
        ? "The other side wants a code and encryption, but this side runs with --insecure: drop --insecure and give the code"
        : `No security mode in common: the other side offers ${
          peer.security.join(", ") || "nothing"
        }`,
      "insecure",
    );
  }
  if (link.pairing) await pair(link, reader, link.pairing);
  return peer;
}

/**
 * Ends a session gracefully: sends an `error` frame for `report` if given,
 * shuts the write side, and reads until the peer closes or `lingerMs`
 * passes, so that neither our error frame nor our last bytes are destroyed
 * by a reset. Never throws.
 */
export async function hangUp(
  link: Link,
  options: { report?: unknown; lingerMs?: number } = {},
): Promise<void> {
  const error = options.report;
  if (error !== undefined && !link.timedOut) {
    const message = error instanceof Error ? error.message : String(error);
    const code = codeOf(error);
    try {
      await withDeadline(
        writeControl(link, { type: "error", code, message }),
        2000,
      );
    } catch {
      // the peer is gone: nothing to tell
    }
  }
  await link.closeWrite();
  const scratch = new Uint8Array(64 * 1024);
  const drain = async () => {
    while (await link.read(scratch) !== null) {
      // discard what the peer still sends until it sees our error
    }
  };
  await withDeadline(drain(), options.lingerMs ?? 2000).catch(() => {});
  link.close();
}

/** Frames gathered into one write go out once they reach this. */
const BATCH_MAX = 256 * 1024;
/** A batch's buffer starts this small and doubles as frames join it. */
const BATCH_FIRST = 4096;

/** Frames gathered for one write, encoded in place. */
interface Batch {
  buf: Uint8Array;
  length: number;
  quiet: boolean;
  done: Promise<void>;
}

/**
 * Encodes `message` at the end of `batch`, growing its buffer up to
 * {@link BATCH_MAX}; false when it does not fit even then.
 */
function append(batch: Batch, message: Message): boolean {
  for (;;) {
    const n = encodeControlInto(message, batch.buf, batch.length);
    if (n >= 0) {
      batch.length += n;
      return true;
    }
    if (batch.buf.length >= BATCH_MAX) return false;
    const grown = new Uint8Array(Math.min(BATCH_MAX, batch.buf.length * 2));
    grown.set(batch.buf.subarray(0, batch.length));
    batch.buf = grown;
  }
}

/**
 * Writes control frames one after another, so that frames from concurrent
 * writers (a report timer and the main loop) never interleave. Frames sent
 * while a write is under way are gathered and go out together in the next
 * one (up to 256 KiB), encoded straight into its buffer: thousands of
 * resume frames are a few writes and a few buffers, not a system call (and
 * a record) and two buffers each.
 */
export function serialWriter(
  link: Link,
): (message: Message, options?: { quiet?: boolean }) => Promise<void> {
  let tail: Promise<void> = Promise.resolve();
  const quietSink = { write: (p: Uint8Array) => link.quietWrite(p) };
  /** The batch still open to more frames: it has not started writing. */
  let open: Batch | undefined;
  return (message, options = {}) => {
    const quiet = options.quiet ?? false;
    if (open && open.quiet === quiet && append(open, message)) return open.done;
    const batch: Batch = {
      buf: new Uint8Array(BATCH_FIRST),
      length: 0,
      quiet,
      done: tail,
    };
    if (!append(batch, message)) {
      throw new RangeError(
        `A control frame of ${message.type} is over the ${MAX_CONTROL_FRAME}-byte limit`,
      );
    }
    open = batch;
    batch.done = tail.then(() => {
      if (open === batch) open = undefined; // what comes now goes next
      return writeAll(
        quiet ? quietSink : link,
        batch.buf.subarray(0, batch.length),
      );
    });
    tail = batch.done.catch(() => {});
    return batch.done;
  };
}

/** Messages {@link sendAll} has under way at most: the rest wait, unencoded. */
const SEND_WINDOW = 2048;

/**
 * Sends every message through `send`, up to 2,048 at a time without waiting
 * between them (gathered into few writes); resolves when all are written.
 * `messages` is read as it goes: a million of them need not exist at once.
 */
export async function sendAll(
  send: (message: Message) => Promise<void>,
  messages: Iterable<Message>,
): Promise<void> {
  // Gathered frames share one promise: each write is awaited once.
  let writes = new Set<Promise<void>>();
  let count = 0;
  for (const m of messages) {
    writes.add(send(m));
    if (++count % SEND_WINDOW === 0) {
      await Promise.all(writes);
      writes = new Set();
    }
  }
  await Promise.all(writes);
}

/** Resolves or rejects with `promise`, or rejects after `ms`. */
export function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("deadline passed")), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** Whether to tell the peer about `error`: not when the peer itself reported it. */
export function shouldReport(error: unknown): boolean {
  return !(error instanceof PasaError && error.fromPeer);
}

/**
 * Refuses a connection before any session: our preamble, then an `error`
 * frame the peer reads in place of a hello (e.g. too many connections).
 */
export async function refuseConnection(
  link: Link,
  error: PasaError,
): Promise<void> {
  try {
    const frame = encodeControl({
      type: "error",
      code: error.code,
      message: error.message,
    });
    const opening = new Uint8Array(8 + frame.length);
    opening.set(encodePreamble(), 0);
    opening.set(frame, 8);
    await withDeadline(writeAll(link, opening), 2000);
  } catch {
    // gone already
  }
  await hangUp(link, { lingerMs: 500 });
}

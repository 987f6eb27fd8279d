/**
 * Reading and writing frames over any byte stream. The reader keeps one
 * buffer for the whole session and hands out views into it, so body bytes
 * are never copied in JavaScript on their way from the socket to the file.
 *
 * @module
 */

import { ProtocolError } from "./errors.ts";
import {
  checkControlLength,
  decodeControl,
  encodeControl,
  type Message,
} from "./protocol.ts";

/** Where bytes come from: `Deno.Conn`, `Deno.FsFile`, or a test double. */
export interface ByteSource {
  read(p: Uint8Array): Promise<number | null>;
}
/** Where bytes go. */
export interface ByteSink {
  write(p: Uint8Array): Promise<number>;
}

/** Writes every byte of `bytes`, looping over short writes. */
export async function writeAll(
  sink: ByteSink,
  bytes: Uint8Array,
): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    done += await sink.write(bytes.subarray(done));
  }
}

/** Sends one control message as a frame. */
export function writeControl(sink: ByteSink, message: Message): Promise<void> {
  return writeAll(sink, encodeControl(message));
}

/** What the buffer starts with: a whole control frame and then some. */
const CONTROL_ROOM = 72 * 1024;

/** Options of {@link FrameReader}. */
export interface FrameReaderOptions {
  /**
   * Size of the one buffer the reader owns.
   * @default {1 MiB + 64 KiB}
   */
  bufferSize?: number;
  /**
   * When the buffer is empty, {@link FrameReader.piece} reads until it holds
   * at least this much (or the piece is complete), so that files get large
   * writes rather than one per socket read.
   * @default {256 KiB}
   */
  batch?: number;
}

/** A buffered reader of preambles, control frames and body chunks. */
export class FrameReader {
  #source: ByteSource;
  #buf: Uint8Array;
  #start = 0;
  #end = 0;
  #batch: number;
  #eof = false;

  /** The size the buffer grows to once body bytes flow. */
  #full: number;

  constructor(source: ByteSource, options: FrameReaderOptions = {}) {
    this.#source = source;
    this.#full = options.bufferSize ?? (1024 + 64) * 1024;
    // Control frames fit in much less: a peer that never gets past its
    // hello (a stranger) costs 72 KiB, not the whole buffer.
    this.#buf = new Uint8Array(Math.min(this.#full, CONTROL_ROOM));
    this.#batch = Math.min(options.batch ?? 256 * 1024, this.#full);
  }

  /** Grows the buffer to its full size, keeping what it holds. */
  #grow(): void {
    if (this.#buf.length >= this.#full) return;
    const bigger = new Uint8Array(this.#full);
    bigger.set(this.#buf.subarray(this.#start, this.#end));
    this.#end -= this.#start;
    this.#start = 0;
    this.#buf = bigger;
  }

  /** Bytes buffered and not yet consumed. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /**
   * Takes out the bytes buffered and not yet consumed: when the stream
   * switches to encrypted records, they are the first record's bytes.
   */
  takeBuffered(): Uint8Array {
    const rest = this.#buf.slice(this.#start, this.#end);
    this.#start = this.#end = 0;
    return rest;
  }

  /** A read from the source under way, if any: no other may start meanwhile. */
  #inFlight: Promise<boolean> | undefined;

  /** Reads once from the source into free space; false at end of stream. */
  async #readMore(): Promise<boolean> {
    if (this.#inFlight) return await this.#inFlight;
    this.#inFlight = this.#readOnce();
    try {
      return await this.#inFlight;
    } finally {
      this.#inFlight = undefined;
    }
  }

  async #readOnce(): Promise<boolean> {
    if (this.#eof) return false;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    if (this.#end === this.#buf.length) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    const n = await this.#source.read(this.#buf.subarray(this.#end));
    if (n === null) {
      this.#eof = true;
      return false;
    }
    this.#end += n;
    return true;
  }

  /**
   * Returns a copy of the next `n` bytes. `what` names them in the error
   * thrown when the stream ends early.
   */
  async readExact(n: number, what: string): Promise<Uint8Array> {
    if (n > this.#full) throw new RangeError(`Cannot buffer ${n} bytes`);
    // A read that {@link whenReadable} left under way writes where it began.
    if (this.#inFlight) await this.#inFlight.catch(() => {});
    if (n > this.#buf.length) this.#grow();
    if (this.#buf.length - this.#start < n) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    while (this.buffered < n) {
      if (!await this.#readMore()) {
        // Nothing of it at all: the peer hung up between frames (Ctrl-C,
        // a crash), which says more to a person than "0 of 4 bytes".
        throw new ProtocolError(
          `Cannot read ${what}: ${
            this.buffered === 0
              ? "the other side closed the connection (it was stopped, or failed without saying why)"
              : `stream ended after ${this.buffered} of ${n} bytes`
          }`,
          "truncated",
        );
      }
    }
    const out = this.#buf.slice(this.#start, this.#start + n);
    this.#start += n;
    return out;
  }

  /**
   * Resolves once at least one byte is buffered, or the stream ended: for
   * a caller that acts if nothing comes soon (or goes away meanwhile). A
   * read called before it resolves waits for it first. `grow`: take the
   * whole buffer first, for bodies; control frames need the small one (a
   * megabyte's buffer slowed a UDP receiver's first milliseconds).
   */
  async whenReadable(grow = true): Promise<void> {
    if (this.#inFlight) await this.#inFlight;
    if (this.buffered === 0) {
      if (grow) this.#grow();
      await this.#readMore();
    }
  }

  /** Reads a big-endian u32. */
  async readU32(what: string): Promise<number> {
    const b = await this.readExact(4, what);
    return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  }

  /** Reads and decodes one control frame, checking its length first. */
  async readControl(): Promise<Message> {
    const length = await this.readU32("control frame header");
    checkControlLength(length);
    return decodeControl(await this.readExact(length, "control frame"));
  }

  /**
   * Returns a view of the next at most `max` bytes (at least one), valid
   * until the next call on this reader; `null` at end of stream.
   */
  async piece(max: number): Promise<Uint8Array | null> {
    if (this.#inFlight) await this.#inFlight.catch(() => {});
    this.#grow();
    if (this.buffered === 0) {
      const want = Math.min(max, this.#batch);
      while (this.buffered < want && await this.#readMore()) {
        // keep filling: larger pieces mean fewer writes downstream
      }
      if (this.buffered === 0) return null;
    }
    const n = Math.min(max, this.buffered);
    const view = this.#buf.subarray(this.#start, this.#start + n);
    this.#start += n;
    return view;
  }
}

/** The bytes of `parts`, one after the other, in a new array. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Gathers small writes into one, so that a folder of small files goes out
 * in few records and few system calls rather than two of each per file.
 * Large writes pass through, after whatever was gathered. Whoever waits on
 * the peer must {@link Coalescer.flush} first.
 *
 * @module
 */

import { type ByteSink, writeAll } from "./frames.ts";
import { encodeControlInto, type Message } from "./protocol.ts";

/** Writes under this size are gathered. */
const SMALL = 64 * 1024;
/** What is gathered goes out once it reaches this (one TCP record). */
const FULL = 256 * 1024;

export class Coalescer implements ByteSink {
  #sink: ByteSink;
  #buf = new Uint8Array(FULL);
  #length = 0;

  constructor(sink: ByteSink) {
    this.#sink = sink;
  }

  async write(p: Uint8Array): Promise<number> {
    if (p.length >= SMALL) {
      await this.flush();
      return await this.#sink.write(p);
    }
    if (this.#length + p.length > FULL) await this.flush();
    this.#buf.set(p, this.#length);
    this.#length += p.length;
    if (this.#length === FULL) await this.flush();
    return p.length;
  }

  /** Gathers a control frame, encoded straight into the buffer. */
  async writeControl(message: Message): Promise<void> {
    let n = encodeControlInto(message, this.#buf, this.#length);
    if (n < 0) {
      await this.flush();
      n = encodeControlInto(message, this.#buf, 0);
      if (n < 0) throw new RangeError(`${message.type} frame too large`);
    }
    this.#length += n;
    if (this.#length === FULL) await this.flush();
  }

  /** Writes out what was gathered. */
  async flush(): Promise<void> {
    if (this.#length === 0) return;
    const n = this.#length;
    this.#length = 0;
    await writeAll(this.#sink, this.#buf.subarray(0, n));
  }
}

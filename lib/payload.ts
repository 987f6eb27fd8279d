/**
 * Inputs a sender reads: local files, and generated payloads that come from
 * memory (for `pasa bench`, so that it measures the network path and not a
 * disk). Both can be read in order or at any position (UDP repairs).
 *
 * @module
 */

import type { ByteSource } from "./frames.ts";
import type { Pattern } from "./pattern.ts";

/** What a sender reads a body from. */
export interface Input extends ByteSource {
  /** Fills `into` with the bytes at `position`; throws if they are not there. */
  readAt(position: number, into: Uint8Array): Promise<void>;
  close(): void;
}

/** A local file as an {@link Input}. */
export class FileInput implements Input {
  /** `small`: read synchronously (a small file: cheaper than a trip to the thread pool). */
  constructor(readonly file: Deno.FsFile, readonly small = false) {}

  read(p: Uint8Array): Promise<number | null> {
    if (!this.small) return this.file.read(p);
    try {
      return Promise.resolve(this.file.readSync(p));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The read under way: a seek and its reads must not interleave with another's. */
  #busy: Promise<void> = Promise.resolve();

  /**
   * Reads `into.length` bytes at `position`. Calls overlap safely (the
   * next block read ahead while holes are read for a repair): each waits
   * for the one before, since a seek and its reads share the file's offset.
   */
  readAt(position: number, into: Uint8Array): Promise<void> {
    const turn = this.#busy.then(() => this.#readAt(position, into));
    this.#busy = turn.catch(() => {});
    return turn;
  }

  async #readAt(position: number, into: Uint8Array): Promise<void> {
    await this.file.seek(position, Deno.SeekMode.Start);
    let done = 0;
    while (done < into.length) {
      const n = await this.file.read(into.subarray(done));
      if (n === null) {
        throw new Error(
          `the file ended at ${position + done}: it shrank while being sent`,
        );
      }
      done += n;
    }
  }

  close(): void {
    this.file.close();
  }
}

/**
 * Incompressible bytes generated in memory from a {@link Pattern}: `size`
 * of them, or, with a null size, as many as can be read before `deadline`
 * (a `performance.now()` time). The byte at a position never changes.
 */
export class Payload implements Input {
  #size: number | null;
  #deadline: number;
  #position = 0;
  #pattern: Pattern;

  constructor(size: number | null, pattern: Pattern, deadline = Infinity) {
    if (size === null && deadline === Infinity) {
      throw new RangeError("A payload needs a size or a deadline");
    }
    this.#size = size;
    this.#deadline = deadline;
    this.#pattern = pattern;
  }

  read(p: Uint8Array): Promise<number | null> {
    const left = this.#size === null ? Infinity : this.#size - this.#position;
    if (
      left <= 0 || (this.#size === null && performance.now() >= this.#deadline)
    ) {
      return Promise.resolve(null);
    }
    const n = Math.min(p.length, left);
    this.#pattern.fill(this.#position, p.subarray(0, n));
    this.#position += n;
    return Promise.resolve(n);
  }

  readAt(position: number, into: Uint8Array): Promise<void> {
    this.#pattern.fill(position, into);
    return Promise.resolve();
  }

  close(): void {}
}

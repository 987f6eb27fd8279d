/**
 * The generated payload of a measurement (`pasa bench`), which both ends
 * can produce from a 32-byte seed: the first {@link PATTERN_SIZE} bytes of
 * the ChaCha20 keystream (RFC 8439 section 2.4: key = seed, nonce = 12 zero
 * bytes, block counter from 0), repeated; the byte at offset `p` is
 * `pattern[p mod PATTERN_SIZE]`. A receiver that knows the seed compares
 * every byte where it lands instead of hashing and storing it: a check that
 * costs a memory compare, so that a measurement measures the network and
 * not SHA-256 or a disk (PROTOCOL.md section 5, "Generated payloads").
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createCipheriv, type Hash, randomBytes } from "node:crypto";
import { IntegrityError } from "./errors.ts";
import type { FileSink } from "./fsio.ts";

/** An odd length, so that the pattern does not line up with chunks or slots. */
export const PATTERN_SIZE = 4 * 1024 * 1024 + 7;

/** What `file-end` and `file-ok` carry for a body checked against a pattern. */
export const NO_DIGEST = "0".repeat(64);

/** The payload of one measurement, from its seed. */
export class Pattern {
  readonly seed: Uint8Array;
  readonly bytes: Buffer;

  constructor(seed: Uint8Array) {
    if (seed.length !== 32) throw new RangeError("A pattern seed is 32 bytes");
    this.seed = seed;
    const stream = createCipheriv("chacha20", seed, new Uint8Array(16));
    this.bytes = stream.update(new Uint8Array(PATTERN_SIZE));
  }

  static random(): Pattern {
    return new Pattern(new Uint8Array(randomBytes(32)));
  }

  static fromHex(hex: string): Pattern {
    return new Pattern(new Uint8Array(Buffer.from(hex, "hex")));
  }

  get hex(): string {
    return Buffer.from(this.seed).toString("hex");
  }

  /** Copies the payload's bytes at `position` into `into`. */
  fill(position: number, into: Uint8Array): void {
    let done = 0;
    while (done < into.length) {
      const at = (position + done) % PATTERN_SIZE;
      const n = Math.min(into.length - done, PATTERN_SIZE - at);
      into.set(this.bytes.subarray(at, at + n), done);
      done += n;
    }
  }

  /** Where `data`, placed at `position`, first differs from the payload; -1 if nowhere. */
  mismatch(position: number, data: Uint8Array): number {
    let done = 0;
    while (done < data.length) {
      const at = (position + done) % PATTERN_SIZE;
      const n = Math.min(data.length - done, PATTERN_SIZE - at);
      const theirs = Buffer.from(
        data.buffer,
        data.byteOffset + done,
        n,
      );
      if (!theirs.equals(this.bytes.subarray(at, at + n))) {
        for (let i = 0; i < n; i++) {
          if (theirs[i] !== this.bytes[at + i]) return position + done + i;
        }
      }
      done += n;
    }
    return -1;
  }
}

/**
 * A hash that hashes nothing, for bodies checked against a pattern: both
 * ends agree on {@link NO_DIGEST} instead of a SHA-256.
 */
export function noDigest(): Hash {
  const none = {
    update: () => none,
    digest: () => NO_DIGEST,
    copy: () => noDigest(),
  };
  return none as unknown as Hash;
}

/**
 * Where a body checked against a pattern goes: each byte is compared where
 * it lands and nothing is stored. Serves TCP bodies as a sink (in order)
 * and UDP slots as a positioned file (any order).
 */
export class PatternSink implements FileSink {
  /** Each byte is compared where it lands: nothing is read back. */
  readonly checksInPlace = true;
  #pattern: Pattern;
  #position = 0;

  constructor(pattern: Pattern) {
    this.#pattern = pattern;
  }

  #check(bytes: Uint8Array): void {
    const at = this.#pattern.mismatch(this.#position, bytes);
    if (at >= 0) {
      throw new IntegrityError(
        `The measurement's data differed from its generated pattern at byte ${at}`,
      );
    }
    this.#position += bytes.length;
  }

  write(bytes: Uint8Array): Promise<void> {
    try {
      this.#check(bytes);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  seekSync(position: number): number {
    this.#position = position;
    return position;
  }

  writeSync(bytes: Uint8Array): number {
    this.#check(bytes);
    return bytes.length;
  }

  /** Reads back what was checked: the pattern itself (a reader that does not ask {@link checksInPlace}). */
  readSync(into: Uint8Array): number {
    this.#pattern.fill(this.#position, into);
    this.#position += into.length;
    return into.length;
  }

  commit(): Promise<void> {
    return Promise.resolve();
  }

  discard(): Promise<void> {
    return Promise.resolve();
  }

  /** Nothing to keep for a rerun. */
  keep(): Promise<boolean> {
    return Promise.resolve(false);
  }
}

/**
 * Streaming SHA-256 of a file's prefix, for resuming: both ends hash the
 * bytes they already have and keep the running state, so that the digest
 * of the whole file still covers every byte without a second pass.
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";

/** A running SHA-256 and the hex digest of what it has seen so far. */
export interface PrefixHash {
  /** The running state: update it with the rest of the file. */
  hash: Hash;
  /** Hex SHA-256 of the prefix alone. */
  sha256: string;
}

/**
 * Hashes the first `length` bytes of the file at `path`. Returns null when
 * the file is shorter (it cannot hold that prefix). `onProgress` gets the
 * bytes hashed so far, about every 64 MiB.
 */
export async function hashPrefix(
  path: string,
  length: number,
  onProgress?: (bytes: number) => void,
): Promise<PrefixHash | null> {
  const hash = createHash("sha256");
  using file = await Deno.open(path, { read: true });
  const buf = new Uint8Array(1024 * 1024);
  let done = 0;
  let reported = 0;
  while (done < length) {
    const n = await file.read(
      buf.subarray(0, Math.min(buf.length, length - done)),
    );
    if (n === null) return null;
    hash.update(buf.subarray(0, n));
    done += n;
    if (done - reported >= 64 * 1024 * 1024) {
      reported = done;
      onProgress?.(done);
    }
  }
  return { hash, sha256: hash.copy().digest("hex") };
}

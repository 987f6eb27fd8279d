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
 * bytes hashed so far, about every 64 MiB. `stop` is asked before each
 * MiB: when it throws (the peer went away), so does this.
 */
export async function hashPrefix(
  path: string,
  length: number,
  onProgress?: (bytes: number) => void,
  stop?: () => void,
): Promise<PrefixHash | null> {
  const hash = createHash("sha256");
  using file = await Deno.open(path, { read: true });
  const buf = new Uint8Array(1024 * 1024);
  let done = 0;
  let reported = 0;
  while (done < length) {
    stop?.();
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

/** What a `.part` left by a UDP transfer holds: a prefix, and whole slots past it. */
export interface KeptSlots extends PrefixHash {
  /** Length of the prefix: whole slots, none of them all zeros. */
  offset: number;
  /** More slots past the prefix, as `[start, length]` byte ranges. */
  ranges: [number, number][];
  /** Hex SHA-256 of the bytes of `ranges`, one after the other. */
  rangesSha256: string;
}

/** Whether every byte of `b` is zero. */
function allZero(b: Uint8Array): boolean {
  if (b.byteOffset % 4 === 0 && b.length % 4 === 0) {
    const words = new Uint32Array(b.buffer, b.byteOffset, b.length / 4);
    for (let i = 0; i < words.length; i++) if (words[i] !== 0) return false;
    return true;
  }
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/**
 * Reads a `.part` a UDP transfer left (its missing slots are holes, read as
 * zeros) in slots of `slot` bytes of a `size`-byte file: the prefix of
 * slots that are not all zeros, hashed with its running state, then the
 * runs of such slots past it, at most `maxRanges`, and their digest. A slot
 * of zeros in the file itself counts as missing: it is sent again, as is
 * the last slot of a part that has all the others.
 */
export async function scanSlots(
  path: string,
  size: number,
  slot: number,
  maxRanges: number,
  stop?: () => void,
): Promise<KeptSlots | null> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch {
    return null;
  }
  using _ = file;
  const length = Math.min((await file.stat()).size, size);
  const prefix = createHash("sha256");
  const rest = createHash("sha256");
  const ranges: [number, number][] = [];
  let offset = 0;
  let inPrefix = true;
  const block = new Uint8Array(Math.max(1, Math.floor(2 ** 20 / slot)) * slot);
  let full = false; // as many ranges as may be offered: the rest is missing
  for (let at = 0; at < length && !full;) {
    stop?.(); // as hashPrefix
    const want = Math.min(block.length, length - at);
    let got = 0;
    while (got < want) {
      const n = await file.read(block.subarray(got, want));
      if (n === null) break;
      got += n;
    }
    for (let k = 0; k < got; k += slot) {
      const start = at + k;
      const bytes = block.subarray(k, Math.min(got, k + slot));
      // Only whole slots, or the file's short last one.
      if (bytes.length < slot && start + bytes.length !== size) break;
      if (allZero(bytes)) {
        inPrefix = false;
        continue;
      }
      // A prefix ends short of the file's last slot: an offer of the whole
      // size would say the file is already under its name (PROTOCOL.md 5.3).
      if (inPrefix && start + bytes.length === size) break;
      if (inPrefix) {
        prefix.update(bytes);
        offset = start + bytes.length;
        continue;
      }
      const last = ranges.at(-1);
      if (last && last[0] + last[1] === start) last[1] += bytes.length;
      else if (ranges.length < maxRanges) ranges.push([start, bytes.length]);
      else {
        full = true;
        break;
      }
      rest.update(bytes);
    }
    if (got < want) break;
    at += got;
  }
  return {
    offset,
    hash: prefix,
    sha256: prefix.copy().digest("hex"),
    ranges,
    rangesSha256: rest.digest("hex"),
  };
}

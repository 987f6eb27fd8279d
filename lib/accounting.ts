/**
 * What a transfer reports about bytes and rates, kept true: a file's size is
 * not what crossed the wire when part of it (a resumed prefix, kept UDP
 * slots) or all of it (a finished file, skipped) was already there. Every
 * rate is over the bytes sent in this transfer, never over those.
 *
 * @module
 */

import { rate } from "./units.ts";

/** One file's outcome, as reported in summaries and `--json`. */
export interface FileResult {
  name: string;
  /** The file's size: what is under its final name now. */
  bytes: number;
  /** Of those, the bytes already on the receiver (resumed prefix, kept slots; the whole file when skipped). */
  resumedBytes: number;
  /** Of those, the bytes this transfer sent: `bytes - resumedBytes`. */
  sentBytes: number;
  /** The digest both ends agreed on; null for a file taken unchanged (nobody read it). */
  sha256: string | null;
  /** Already on the receiver with the same size and modification time: taken as it is, not read. */
  unchanged?: true;
  /** From the start of this file's body to its confirmation. */
  seconds: number;
  /** Goodput: `sentBytes / seconds` (0 when nothing was sent). */
  bytesPerSecond: number;
}

/** A file's result from its size, what was already there, and its time. */
export function fileResult(
  name: string,
  bytes: number,
  resumedBytes: number,
  sha256: string,
  seconds: number,
): FileResult {
  const resumed = Math.min(Math.max(0, resumedBytes), bytes);
  const sentBytes = bytes - resumed;
  return {
    name,
    bytes,
    resumedBytes: resumed,
    sentBytes,
    sha256,
    seconds,
    bytesPerSecond: sentBytes > 0 ? rate(sentBytes, seconds) : 0,
  };
}

/**
 * The results of the files taken as they are (`indices` among `files`),
 * and their bytes together.
 */
export function unchangedResults(
  files: readonly { path: string; size: number | null }[],
  indices: Iterable<number>,
): { results: FileResult[]; bytes: number } {
  const results: FileResult[] = [];
  let bytes = 0;
  for (const index of indices) {
    const entry = files[index]!;
    results.push(unchangedResult(entry.path, entry.size ?? 0));
    bytes += entry.size ?? 0;
  }
  return { results, bytes };
}

/** A file the receiver took as it is, by size and modification time: nothing read, nothing sent. */
export function unchangedResult(name: string, bytes: number): FileResult {
  return {
    name,
    bytes,
    resumedBytes: bytes,
    sentBytes: 0,
    sha256: null,
    unchanged: true,
    seconds: 0,
    bytesPerSecond: 0,
  };
}

/** A transfer's totals over its files; the rate over what was sent. */
export interface Totals {
  bytes: number;
  resumedBytes: number;
  /** Of those, the bytes of files taken unchanged (by size and time, not read). */
  unchangedBytes: number;
  sentBytes: number;
  seconds: number;
  bytesPerSecond: number;
}

export function totalsOf(files: FileResult[], seconds: number): Totals {
  let bytes = 0, resumedBytes = 0, sentBytes = 0, unchangedBytes = 0;
  for (const f of files) {
    bytes += f.bytes;
    resumedBytes += f.resumedBytes;
    sentBytes += f.sentBytes;
    if (f.unchanged) unchangedBytes += f.bytes;
  }
  return {
    bytes,
    resumedBytes,
    unchangedBytes,
    sentBytes,
    seconds,
    bytesPerSecond: sentBytes > 0 ? rate(sentBytes, seconds) : 0,
  };
}

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
  sha256: string;
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

/** A transfer's totals over its files; the rate over what was sent. */
export interface Totals {
  bytes: number;
  resumedBytes: number;
  sentBytes: number;
  seconds: number;
  bytesPerSecond: number;
}

export function totalsOf(files: FileResult[], seconds: number): Totals {
  let bytes = 0, resumedBytes = 0, sentBytes = 0;
  for (const f of files) {
    bytes += f.bytes;
    resumedBytes += f.resumedBytes;
    sentBytes += f.sentBytes;
  }
  return {
    bytes,
    resumedBytes,
    sentBytes,
    seconds,
    bytesPerSecond: sentBytes > 0 ? rate(sentBytes, seconds) : 0,
  };
}

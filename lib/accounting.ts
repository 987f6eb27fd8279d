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
 * Adds the files taken as they are (`indices` among `files`) to `ledger`;
 * returns their bytes together.
 */
export function addUnchanged(
  ledger: Ledger,
  files: readonly { path: string; size: number | null }[],
  indices: Iterable<number>,
): number {
  let bytes = 0;
  for (const index of indices) {
    const entry = files[index]!;
    ledger.add(unchangedResult(entry.path, entry.size ?? 0));
    bytes += entry.size ?? 0;
  }
  return bytes;
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
  const ledger = new Ledger();
  for (const f of files) ledger.add(f);
  return ledger.totals(seconds);
}

/**
 * A transfer's confirmed files, counted as they come: the totals always,
 * each file's result only when `keep` (a summary that lists them, as
 * `--json`'s does). A folder of 100,000 files then holds no 100,000
 * results unless they are asked for.
 */
export class Ledger {
  /** The results, in the order they were added; empty unless kept. */
  readonly files: FileResult[] = [];
  /** Files added, kept or not. */
  count = 0;
  /** Of those, the files taken unchanged (by size and time). */
  unchangedFiles = 0;
  #keep: boolean;
  #bytes = 0;
  #resumed = 0;
  #sent = 0;
  #unchangedBytes = 0;

  constructor(keep = true) {
    this.#keep = keep;
  }

  add(f: FileResult): void {
    this.count++;
    this.#bytes += f.bytes;
    this.#resumed += f.resumedBytes;
    this.#sent += f.sentBytes;
    if (f.unchanged) {
      this.unchangedFiles++;
      this.#unchangedBytes += f.bytes;
    }
    if (this.#keep) this.files.push(f);
  }

  /** The members of a transfer's result that come from its files. */
  summary(seconds: number): Totals & {
    files: FileResult[];
    fileCount: number;
    unchangedFiles: number;
  } {
    return {
      files: this.files,
      fileCount: this.count,
      unchangedFiles: this.unchangedFiles,
      ...this.totals(seconds),
    };
  }

  totals(seconds: number): Totals {
    return {
      bytes: this.#bytes,
      resumedBytes: this.#resumed,
      unchangedBytes: this.#unchangedBytes,
      sentBytes: this.#sent,
      seconds,
      bytesPerSecond: this.#sent > 0 ? rate(this.#sent, seconds) : 0,
    };
  }
}

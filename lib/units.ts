/**
 * Sizes, rates, durations and lists: parsing what users type and formatting
 * what they read. Pure functions.
 *
 * @module
 */

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  kib: 2 ** 10,
  m: 1e6,
  mb: 1e6,
  mib: 2 ** 20,
  g: 1e9,
  gb: 1e9,
  gib: 2 ** 30,
  t: 1e12,
  tb: 1e12,
  tib: 2 ** 40,
};

/**
 * Parses a byte size: a number with an optional unit, decimal (`k`, `M`,
 * `G`, `T`, also `MB`) or binary (`KiB`, `MiB`, `GiB`, `TiB`).
 * Throws a RangeError naming the bad input.
 *
 * @example
 * ```ts
 * import { parseSize } from "./units.ts";
 * parseSize("1.5G"); // => 1500000000
 * parseSize("4GiB"); // => 4294967296
 * ```
 */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new RangeError(
      `Invalid size ${
        JSON.stringify(text)
      }: expected a number with an optional unit (500M, 2G, 1GiB)`,
    );
  }
  const value = Math.round(Number(m[1]) * unit);
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`Invalid size ${JSON.stringify(text)}: too large`);
  }
  return value;
}

const BINARY = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** Formats a byte count with binary units: `0 B`, `1023 B`, `1.5 MiB`. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 1024) {
    return `${Number.isFinite(bytes) ? Math.max(0, Math.round(bytes)) : 0} B`;
  }
  let value = bytes;
  let i = 0;
  // Compare the rounded value, so that 1048575 B reads 1.0 MiB, not 1024 KiB.
  const shown = (v: number) => (v >= 99.95 ? v.toFixed(0) : v.toFixed(1));
  while (Number(shown(value)) >= 1024 && i < BINARY.length - 1) {
    value /= 1024;
    i++;
  }
  return `${shown(value)} ${BINARY[i]}`;
}

/** Formats a rate in bytes per second as `MB/s`-style decimal units. */
export function formatRate(bytesPerSecond: number): string {
  const v = Number.isFinite(bytesPerSecond) && bytesPerSecond > 0
    ? bytesPerSecond
    : 0;
  if (v >= 1e9) return `${(v / 1e9).toFixed(2)} GB/s`;
  if (v >= 1e6) return `${(v / 1e6).toFixed(1)} MB/s`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)} kB/s`;
  return `${v.toFixed(0)} B/s`;
}

/** Formats seconds as `0.42 s`, `12 s`, `3m05s` or `1h02m`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--";
  if (seconds < 10) return `${seconds.toFixed(2)} s`;
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const s = Math.round(seconds);
  if (s < 3600) {
    return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  }
  return `${Math.floor(s / 3600)}h${
    String(Math.floor(s / 60) % 60).padStart(2, "0")
  }m`;
}

/** `bytes / seconds`, or 0 when that is not a finite number. */
export function rate(bytes: number, seconds: number): number {
  const r = bytes / seconds;
  return Number.isFinite(r) && r >= 0 ? r : 0;
}

/**
 * A list that can grow without bound, for one line of text: the first
 * `shown` items, then how many more (`a, b, c and 1,197 more`).
 *
 * @example
 * ```ts
 * import { formatList } from "./units.ts";
 * formatList(["a", "b", "c", "d"], 2); // => "a, b and 2 more"
 * ```
 */
export function formatList(items: readonly string[], shown = 5): string {
  if (items.length <= shown + 1) {
    return items.length < 2
      ? items.join("")
      : `${items.slice(0, -1).join(", ")} and ${items.at(-1)}`;
  }
  const more = (items.length - shown).toLocaleString("en-US");
  return `${items.slice(0, shown).join(", ")} and ${more} more`;
}

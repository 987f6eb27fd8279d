import assert from "node:assert/strict";
import {
  formatBytes,
  formatDuration,
  formatRate,
  parseSize,
  rate,
} from "../lib/units.ts";

const sizes: [string, number][] = [
  ["0", 0],
  ["512", 512],
  ["1k", 1000],
  ["1.5G", 1_500_000_000],
  ["500M", 500_000_000],
  ["4GiB", 4 * 2 ** 30],
  ["10 MiB", 10 * 2 ** 20],
  ["2TB", 2e12],
];
for (const [text, bytes] of sizes) {
  Deno.test(`parseSize(${JSON.stringify(text)}) is ${bytes}`, () =>
    assert.equal(parseSize(text), bytes));
}
for (const text of ["", "G", "-1", "1.2.3", "5X", "1e3"]) {
  Deno.test(`parseSize(${JSON.stringify(text)}) throws a RangeError`, () => {
    assert.throws(() => parseSize(text), RangeError);
  });
}

Deno.test("formatBytes() uses binary units and never prints NaN", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(1023), "1023 B");
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(1048575), "1.0 MiB");
  assert.equal(formatBytes(99.97 * 1024), "100 KiB");
  assert.equal(formatBytes(2 ** 30), "1.0 GiB");
  assert.equal(formatBytes(500 * 2 ** 20), "500 MiB");
  assert.equal(formatBytes(NaN), "0 B");
});

Deno.test("formatRate() and rate() never print NaN or Infinity", () => {
  assert.equal(formatRate(1.5e9), "1.50 GB/s");
  assert.equal(formatRate(2.5e6), "2.5 MB/s");
  assert.equal(formatRate(Infinity), "0 B/s");
  assert.equal(rate(10, 0), 0);
  assert.equal(rate(0, 0), 0);
  assert.equal(rate(10, 2), 5);
});

Deno.test("formatDuration() reads naturally from milliseconds to hours", () => {
  assert.equal(formatDuration(0.42), "0.42 s");
  assert.equal(formatDuration(12.4), "12 s");
  assert.equal(formatDuration(185), "3m05s");
  assert.equal(formatDuration(3720), "1h02m");
  assert.equal(formatDuration(NaN), "--");
});

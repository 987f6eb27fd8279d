import assert from "node:assert/strict";
import { IntervalRecorder } from "../lib/intervals.ts";

Deno.test("intervals start with the first body byte, not with connecting and pairing", () => {
  const r = new IntervalRecorder(1);
  assert.equal(r.sample(1000, 0, -1), undefined, "nothing moved yet");
  // Data began at 1300 ms; the next tick is at 2000 ms.
  const first = r.sample(2000, 70e6, 1300)!;
  assert.deepEqual(first, {
    start: 0,
    end: 0.7,
    bytes: 70e6,
    bitsPerSecond: 800e6,
  });
  const second = r.sample(3000, 170e6, 1300)!;
  assert.deepEqual([second.start, second.end, second.bytes], [0.7, 1.7, 100e6]);
});

Deno.test("a last interval under half a period joins the one before: no spike or drop at the end", () => {
  const r = new IntervalRecorder(1);
  r.sample(1000, 100e6, 0);
  r.sample(2000, 200e6, 0);
  const last = r.finish(2100, 201e6, 0)!;
  assert.equal(last.bytes, 1e6, "the short one is still said as it was");
  assert.equal(r.intervals.length, 2);
  const tail = r.intervals[1]!;
  assert.deepEqual([tail.start, tail.end, tail.bytes], [1, 2.1, 101e6]);
  assert.equal(tail.bitsPerSecond, (101e6 * 8) / 1.1);
  // Bytes are never lost or counted twice by folding.
  assert.equal(r.intervals.reduce((n, i) => n + i.bytes, 0), 201e6);
});

Deno.test("a last interval of half a period or more stands on its own", () => {
  const r = new IntervalRecorder(1);
  r.sample(1000, 100e6, 0);
  r.finish(1600, 150e6, 0);
  assert.deepEqual(r.intervals.map((i) => i.end), [1, 1.6]);
});

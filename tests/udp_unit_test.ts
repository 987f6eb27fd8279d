import assert from "node:assert/strict";
import { UsageError } from "../lib/errors.ts";
import { Inbox, udpDispatcher } from "../lib/udp_send.ts";
import { DatagramSizing } from "../lib/udp_sizing.ts";
import {
  Jitter,
  parseRate,
  RateController,
  readHeader,
  slotCount,
  slotLength,
  SlotMap,
  UDP_HEADER,
  writeHeader,
} from "../lib/udp.ts";

Deno.test("writeHeader() and readHeader() round-trip 64-bit values past 2^32", () => {
  const d = new Uint8Array(UDP_HEADER + 3);
  const h = {
    transfer: 0xdeadbeef,
    index: 7,
    sequence: 2 ** 40 + 5,
    offset: 2 ** 33 + 1024,
    sentMicros: 2 ** 45,
  };
  writeHeader(d, h);
  assert.deepEqual([...d.subarray(0, 4)], [1, 0x44, 0, 40]);
  assert.deepEqual(readHeader(d), h);
});

Deno.test("readHeader() names what is wrong with a malformed datagram", () => {
  assert.match(
    readHeader(new Uint8Array(39)) as string,
    /short datagram \(39 bytes\)/,
  );
  const d = new Uint8Array(UDP_HEADER);
  writeHeader(d, {
    transfer: 1,
    index: 0,
    sequence: 0,
    offset: 0,
    sentMicros: 0,
  });
  d[0] = 2;
  assert.match(readHeader(d) as string, /unknown datagram version 2/);
  d[0] = 1;
  d[1] = 0x58;
  assert.match(readHeader(d) as string, /unknown datagram type/);
});

const rates: [string, number][] = [
  ["500M", 5e8],
  ["2G", 2e9],
  ["1.5g", 1.5e9],
  ["800k", 8e5],
  ["100000", 1e5],
  [
    "10Mbps",
    1e7,
  ],
];
for (const [text, value] of rates) {
  Deno.test(`parseRate(${JSON.stringify(text)}) is ${value} bit/s`, () =>
    assert.equal(parseRate(text), value));
}
for (const text of ["", "fast", "-5M", "10", "2X"]) {
  Deno.test(`parseRate(${JSON.stringify(text)}) is a usage error`, () => {
    assert.throws(() => parseRate(text), UsageError);
  });
}

Deno.test("SlotMap lists missing ranges and counts duplicates", () => {
  const map = new SlotMap(20);
  for (const s of [0, 1, 2, 5, 6, 9, 10, 11, 12, 13, 14, 15, 16, 17]) {
    assert.ok(map.mark(s));
  }
  assert.equal(map.mark(5), false, "a second copy is a duplicate");
  assert.deepEqual(map.missing(), [[3, 2], [7, 2], [18, 2]]);
  assert.deepEqual(map.missing(2), [[3, 2], [7, 2]]);
  assert.deepEqual(map.missing(Infinity, 4, 8), [[4, 1], [7, 1]], "a window");
  for (const s of [3, 4, 7, 8, 18, 19]) map.mark(s);
  assert.deepEqual(map.missing(), []);
  assert.equal(map.count, 20);
});

Deno.test("SlotMap keeps slots past 2^32 apart from those below, and a map of 2^34 slots lists what is missing across its pages", () => {
  const slots = 2 ** 34;
  const map = new SlotMap(slots);
  assert.ok(map.mark(2 ** 32 + 5));
  assert.equal(map.has(5), false, "no 32-bit wrap");
  assert.equal(map.has(2 ** 32 + 5), true);
  for (let s = 0; s < 70_000; s++) map.mark(s); // a page and more, in order
  assert.equal(map.mark(65_536 + 7), false, "a duplicate past the first page");
  assert.deepEqual(map.missing(3), [
    [70_000, 2 ** 32 + 5 - 70_000],
    [2 ** 32 + 6, slots - (2 ** 32 + 6)],
  ]);
  assert.equal(map.count, 70_001);
});

Deno.test("SlotMap lists at most `limit` ranges, each whole, and fills its last page exactly", () => {
  const map = new SlotMap(70_000); // the last page is short
  for (let s = 0; s < 70_000; s += 2) map.mark(s);
  assert.deepEqual(map.missing(3), [[1, 1], [3, 1], [5, 1]]);
  for (let s = 1; s < 70_000; s += 2) map.mark(s);
  assert.deepEqual(map.missing(), []);
  assert.equal(map.count, 70_000);
  assert.equal(map.has(69_999), true);
});

Deno.test("slots cover a file exactly, the last one short", () => {
  assert.equal(slotCount(10_000, 1432), 7);
  assert.equal(slotLength(10_000, 1432, 6), 10_000 - 6 * 1432);
  assert.equal(slotCount(0, 1432), 0);
});

Deno.test("RateController doubles while clean, then backs off on loss, climbs back, holds between", () => {
  const c = new RateController({ initial: 1e9 });
  c.report(1000, 1000); // clean: slow start doubles
  assert.equal(c.rate, 2e9);
  assert.ok(c.slowStart);
  c.report(1800, 2000); // 20% lost while warming up: back off, keep doubling after
  assert.equal(c.rate, 2e9 * 0.75);
  assert.ok(c.slowStart, "the receiver's start-up does not end slow start");
  c.report(2600, 3000); // 20% lost again, past the warm-up: slow start is over
  assert.equal(c.rate, 1.5e9 * 0.75);
  assert.ok(!c.slowStart);
  const peak = 1.5e9 * 0.75;
  c.report(3500, 4000); // 10% lost: back off again
  const low = peak * 0.75;
  assert.equal(c.rate, low);
  c.report(4500, 5000); // clean: half-way back to where it backed off
  assert.equal(c.rate, (low + peak) / 2);
  const held = c.rate;
  c.report(5450, 6000); // 5%: between the thresholds
  assert.equal(c.rate, held);
  assert.equal(c.report(5450, 6000), 0, "no datagrams, no verdict");
});

Deno.test("RateController backs off to just under what the path delivered", () => {
  // Datagrams of 1,250 bytes: 1,000 in a tenth of a second is 100 Mbit/s.
  const c = new RateController({ initial: 1e8, datagramBytes: 1250 });
  for (let i = 0; i <= 3; i++) c.report(i * 1000, i * 1000, i * 100);
  assert.equal(c.rate, 2e8, "slow start grows to twice what was really sent");
  // 2,000 sent, 1,500 arrived: the path carried 150 Mbit/s.
  c.report(4500, 5000, 400);
  assert.ok(!c.slowStart);
  assert.ok(Math.abs(c.rate - 150e6 * 0.95) < 1, `${c.rate}`);
});

Deno.test("RateController judges the first report from the first datagram: slow start grows at once, not a report later", () => {
  // 10,000 datagrams of 1,250 bytes in the 100 ms since the first went out: 1 Gbit/s.
  const judged = new RateController({ initial: 5e8, datagramBytes: 1250 });
  judged.begin(0);
  judged.report(10_000, 10_000, 100);
  assert.equal(judged.rate, 1e9);
  const unjudged = new RateController({ initial: 5e8, datagramBytes: 1250 });
  unjudged.report(10_000, 10_000, 100);
  assert.equal(unjudged.rate, 5e8, "without a start, nothing to judge by");
});

Deno.test("RateController never grows past what was really sent, nor reports more", () => {
  // A sender held to 1,000 datagrams of 1,472 bytes a second (11.8 Mbit/s)
  // by its own CPU: no loss, but no room either.
  const c = new RateController({ initial: 1e8, datagramBytes: 1472 });
  const achieved = 1000 * 1472 * 8;
  for (let i = 0; i <= 50; i++) c.report(i * 100, i * 100, i * 100);
  assert.equal(c.rate, 1e8, "it allows what it allowed, and no more");
  assert.ok(
    Math.abs(c.settled - achieved) < achieved * 0.01,
    `settled ${c.settled}`,
  );
});

Deno.test("RateController does not collapse on loss that stays whatever the rate", () => {
  // 10% of every interval lost at random, at any rate: not congestion.
  const c = new RateController({ initial: 1e8 });
  for (let i = 1; i <= 3; i++) c.report(i * 900, i * 1000);
  // It backed off while it could not tell (three intervals), then learned.
  assert.ok(Math.abs(c.randomLoss - 0.1) < 1e-9);
  assert.ok(c.rate >= 1e8 * 0.75 ** 3 * 0.99, `${c.rate}`);
  for (let i = 4; i <= 30; i++) c.report(i * 900, i * 1000);
  assert.ok(c.rate > 1e8, `back above where it started: ${c.rate}`);
  // Loss well above that floor is congestion: it backs off.
  const before = c.rate;
  c.report(30 * 900 + 700, 31 * 1000); // 30% of this interval lost
  assert.equal(c.rate, before * 0.75);
});

Deno.test("RateController past slow start takes one lossy interval between clean ones as the receiver's hiccup, not a full path", () => {
  const c = new RateController({ initial: 1e9 });
  let r = 0, e = 0;
  const interval = (lost: number) => c.report(r += 1000 - lost, e += 1000);
  for (let i = 0; i < 3; i++) interval(0); // clean: slow start
  interval(200); // 20%: slow start ends at the first loss
  interval(200); // and again: backs off
  assert.ok(!c.slowStart);
  for (let i = 0; i < 5; i++) interval(0);
  const steady = c.rate;
  interval(120); // 12% once, after clean intervals: held, not backed off
  assert.equal(c.rate, steady);
  interval(120); // twice in a row: the path is too full
  assert.ok(c.rate < steady);
  for (let i = 0; i < 5; i++) interval(0);
  const again = c.rate;
  interval(300); // 30% at once is more than a hiccup: backs off at once
  assert.ok(c.rate < again);
});

Deno.test("RateController stops falling when three back-offs in a row leave the loss where it was", () => {
  // Every large datagram lost, every probe through: 87.5% at any rate.
  const c = new RateController({ initial: 8e8 });
  let r = 0, e = 0;
  const interval = (lost: number) => c.report(r += 1000 - lost, e += 1000);
  for (let i = 0; i < 3; i++) interval(0); // clean: slow start
  const before = c.rate;
  const rates: number[] = [];
  for (let i = 0; i < 10; i++) {
    interval(875);
    rates.push(c.rate);
  }
  assert.equal(Math.min(...rates), before * 0.75 ** 3, "three back-offs");
  assert.ok(c.rate > before * 0.75 ** 3, "then it climbs back");
  assert.ok(Math.abs(c.randomLoss - 0.875) < 1e-9);
  interval(20); // the loss fell: it was not the path's own after all
  assert.ok(c.randomLoss < 0.875);
});

Deno.test("RateController restarts in slow start, forgetting the path's loss", () => {
  const c = new RateController({ initial: 8e8 });
  for (let i = 1; i <= 6; i++) c.report(i * 125, i * 1000);
  c.restart(4e8);
  assert.equal(c.rate, 4e8);
  assert.ok(c.slowStart);
  assert.equal(c.randomLoss, 0);
});

Deno.test("RateController held for a test of the path neither grows nor backs off", () => {
  const c = new RateController({ initial: 1e9 });
  c.held = true;
  c.report(1000, 1000);
  assert.equal(c.rate, 1e9);
  c.report(1500, 2000);
  assert.equal(c.rate, 1e9);
  c.held = false;
  c.report(2000, 3000);
  assert.ok(c.rate < 1e9);
});

Deno.test("RateController with a fixed rate never adapts", () => {
  const c = new RateController({ fixed: 5e8, initial: 5e8 });
  c.report(10, 1000);
  c.report(2000, 2000);
  assert.equal(c.rate, 5e8);
  assert.equal(c.settled, 5e8);
});

Deno.test("Jitter follows RFC 3550: J += (|D| - J) / 16", () => {
  const j = new Jitter();
  j.add(10);
  assert.equal(j.value, 0);
  j.add(26); // |D| = 16
  assert.equal(j.value, 1);
  j.add(26); // |D| = 0
  assert.equal(j.value, 1 - 1 / 16);
});

Deno.test("a sender that asked for early repair keeps the holes asked during a pass apart from the pass's answer; one that did not ignores them", async () => {
  const early = {
    type: "udp-missing" as const,
    index: 0,
    ranges: [[5, 1]] as [number, number][],
    early: true as const,
  };
  const answer = { type: "udp-file-done" as const, index: 0, complete: true };
  for (const asked of [true, false]) {
    const inbox = new Inbox();
    const queue: unknown[] = [];
    const dispatch = udpDispatcher({
      inbox,
      rate: new RateController({ initial: 1e8 }),
      sizing: new DatagramSizing(11),
      datagramSize: 1472,
      seal: undefined,
      ...(asked ? { early: queue as never } : {}),
    });
    dispatch(early);
    dispatch(answer);
    assert.deepEqual(queue, asked ? [early] : []);
    assert.deepEqual(await inbox.next(), answer, "the pass's answer is next");
  }
});

import assert from "node:assert/strict";
import { DatagramSizing, isProbe, probesBefore } from "../lib/udp_sizing.ts";

/**
 * Plays `windows` windows of 800 datagrams (100 probes) through `sizing`,
 * losing `largeLoss` of the large ones and `probeLoss` of the probes.
 */
function play(
  sizing: DatagramSizing,
  windows: number,
  largeLoss: number,
  probeLoss: number,
  from = { received: 0, probes: 0, expected: 0 },
) {
  let { received, probes, expected } = from;
  for (let w = 0; w < windows; w++) {
    expected += 800;
    const gotProbes = Math.round(100 * (1 - probeLoss));
    received += Math.round(700 * (1 - largeLoss)) + gotProbes;
    probes += gotProbes;
    sizing.report(received, probes, expected);
  }
  return { received, probes, expected };
}

Deno.test("every eighth sequence number is a probe, carrying one slot", () => {
  const s = new DatagramSizing(11);
  assert.deepEqual(
    [0, 1, 6, 7, 8, 15].map((n) => s.slotsAt(n)),
    [11, 11, 11, 1, 11, 1],
  );
  assert.ok(isProbe(7) && !isProbe(8));
  assert.equal(probesBefore(8), 1);
  assert.equal(probesBefore(7), 0);
});

Deno.test("loss that hits large datagrams and probes alike keeps datagrams large", () => {
  const s = new DatagramSizing(11);
  play(s, 50, 0.1, 0.1); // 10% of everything lost: congestion, a lossy link
  assert.ok(!s.single);
  play(s, 50, 0.02, 0.0); // a little more on large ones: counting noise
  assert.ok(!s.single);
});

Deno.test("large datagrams losing far more than probes, at any rate, mean the path loses fragments", () => {
  const s = new DatagramSizing(11);
  // 2% of packets lost: an 11-fragment datagram is lost 20% of the time.
  let at = play(s, 1, 0.02, 0.02);
  assert.ok(!s.testing);
  at = play(s, 1, 0.2, 0.02, at);
  assert.ok(s.testing, "one lopsided window starts a test");
  assert.ok(!s.single);
  play(s, 1, 0.2, 0.02, at); // still lopsided at half the rate
  assert.ok(s.single);
  assert.ok(!s.testing);
  assert.ok(s.verdict && s.verdict.largeLoss > 0.15, JSON.stringify(s.verdict));
  assert.equal(s.slotsAt(0), 1, "from then on, one slot per datagram");
});

Deno.test("large datagrams lost more only until the rate falls are a full buffer, not lost fragments", () => {
  const s = new DatagramSizing(11);
  // A receiver's full socket buffer still takes a small datagram.
  const at = play(s, 1, 0.3, 0.02);
  assert.ok(s.testing);
  play(s, 1, 0.0, 0.0, at); // at half the rate, nothing lost
  assert.ok(!s.single && !s.testing);
});

Deno.test("reports are pooled until a window holds enough probes", () => {
  const s = new DatagramSizing(11);
  // Reports of 80 datagrams (10 probes) each, every large datagram lost.
  let received = 0, probes = 0;
  const steps: (string | undefined)[] = [];
  for (let i = 1; i <= 20; i++) {
    received += 10;
    probes += 10;
    steps.push(s.report(received, probes, i * 80));
  }
  // 100 probes make a window: one at the 10th report, the next at the 20th.
  assert.deepEqual(
    steps.map((x, i) => x === undefined ? x : `${i + 1}:${x}`).filter(Boolean),
    ["10:test", "20:single"],
  );
});

Deno.test("one slot allowed means one slot always", () => {
  const s = new DatagramSizing(1);
  assert.ok(s.single);
  assert.equal(s.slotsAt(0), 1);
});

Deno.test("once a test has cleared the path, a lone lopsided window is the buffer again: the next test waits for three in a row", () => {
  const s = new DatagramSizing(11);
  let at = play(s, 1, 0.3, 0.02);
  assert.ok(s.testing);
  at = play(s, 1, 0.0, 0.0, at); // cleared: fragments pass
  assert.ok(!s.testing);
  at = play(s, 1, 0.3, 0.02, at); // a burst of full buffer
  at = play(s, 1, 0.0, 0.0, at);
  at = play(s, 2, 0.3, 0.02, at);
  assert.ok(!s.testing, "two lopsided windows in a row start no second test");
  at = play(s, 1, 0.3, 0.02, at);
  assert.ok(s.testing, "the third in a row does");
  play(s, 1, 0.3, 0.02, at); // and fragments lost from now on are found
  assert.ok(s.single);
});

Deno.test("at a low rate a window closes after 300 ms with 25 probes, not only after 100", () => {
  const s = new DatagramSizing(11);
  // 80 datagrams (10 probes) a report, every large one lost, a report every 100 ms.
  const steps: (string | undefined)[] = [];
  for (let i = 1; i <= 8; i++) {
    steps.push(s.report(i * 10, i * 10, i * 80, i * 100));
  }
  // The window began at the first report: at 400 ms it has 40 probes.
  assert.deepEqual(
    steps.map((x, i) => x === undefined ? x : `${i + 1}:${x}`).filter(Boolean),
    ["4:test", "7:single"],
  );
});

import assert from "node:assert/strict";
import { DEAD_LANE_DATAGRAMS, Lanes, TRIAL_DATAGRAMS } from "../lib/lanes.ts";

/** The ports of datagrams `from` to `to` (excluded). */
function ports(lanes: Lanes, from: number, to: number): number[] {
  const out: number[] = [];
  for (let s = from; s < to; s++) out.push(lanes.portFor(s));
  return out;
}

Deno.test("until the receiver reports datagrams on a port, it gets a trial of two and the main port the rest", () => {
  const lanes = new Lanes(9000, [40001, 40002]);
  const first = ports(lanes, 0, 20);
  assert.equal(first.filter((p) => p === 40001).length, TRIAL_DATAGRAMS);
  assert.equal(first.filter((p) => p === 40002).length, TRIAL_DATAGRAMS);
  assert.equal(
    first.filter((p) => p === 9000).length,
    20 - 2 * TRIAL_DATAGRAMS,
  );
  assert.equal(lanes.live, 1);
});

Deno.test("ports the receiver reported go round with the main port, by sequence number", () => {
  const lanes = new Lanes(9000, [40001, 40002]);
  ports(lanes, 0, 20);
  assert.deepEqual(lanes.report(20, [2, 2]), []);
  assert.equal(lanes.live, 3);
  assert.deepEqual(ports(lanes, 0, 6), [
    9000,
    40001,
    40002,
    9000,
    40001,
    40002,
  ]);
});

Deno.test("the one-slot probes (every eighth datagram) visit every lane, not always the same one", () => {
  const lanes = new Lanes(9000, [1, 2, 3, 4, 5, 6, 7]);
  ports(lanes, 0, 64);
  lanes.report(64, [2, 2, 2, 2, 2, 2, 2]);
  const probes = [7, 15, 23, 31, 39, 47, 55, 63].map((s) => lanes.portFor(s));
  assert.equal(new Set(probes).size, 8, String(probes));
});

Deno.test("a port still at nothing after its trial, once the main port has had enough, is given up", () => {
  const lanes = new Lanes(9000, [40001, 40002]);
  ports(lanes, 0, 8);
  // Too little on the main port yet to judge.
  assert.deepEqual(lanes.report(6, [2, 0]), []);
  ports(lanes, 8, 40);
  assert.deepEqual(lanes.report(38, [2, 0]), [40002]);
  assert.equal(lanes.live, 2);
  assert.ok(!ports(lanes, 40, 80).includes(40002));
});

Deno.test("a port that carried the transfer and stops receiving is given up one report interval later", () => {
  const lanes = new Lanes(9000, [40001]);
  ports(lanes, 0, 10);
  lanes.report(10, [2]); // confirmed
  ports(lanes, 10, 10 + 4 * DEAD_LANE_DATAGRAMS);
  // Its count stands still from here: a firewall closed it.
  assert.deepEqual(lanes.report(40, [20]), []);
  ports(lanes, 100, 140);
  assert.deepEqual(lanes.report(60, [20]), [40001]);
  assert.equal(lanes.live, 1);
});

Deno.test("a report without counts per port changes nothing", () => {
  const lanes = new Lanes(9000, [40001]);
  ports(lanes, 0, 100);
  assert.deepEqual(lanes.report(100, undefined), []);
  assert.deepEqual(lanes.report(100, undefined), []);
  assert.equal(lanes.live, 1);
});

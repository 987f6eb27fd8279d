import assert from "node:assert/strict";
import {
  countersDelta,
  parseSnmp,
  readNetCounters,
} from "../lib/net_counters.ts";

// The shape of Linux's /proc/net/snmp: a line of names, then one of values.
const SNMP = `Ip: Forwarding DefaultTTL InReceives
Ip: 2 64 41058463
Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens RetransSegs InErrs
Tcp: 1 200 120000 -1 947741 18674 0
Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors
Udp: 21220186 14146 682505 21916945 682505 0
UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors
UdpLite: 0 0 0 0 7 0
`;

Deno.test("parseSnmp() reads UDP's RcvbufErrors and TCP's RetransSegs, not UdpLite's", () => {
  assert.deepEqual(parseSnmp(SNMP), {
    udpRcvbufErrors: 682505,
    tcpRetransSegs: 18674,
  });
});

Deno.test("parseSnmp() gives null, not zero, when a counter is missing or garbled", () => {
  assert.equal(
    parseSnmp(SNMP.replace("RcvbufErrors SndbufErrors\nUdp", "X Y\nUdp")),
    null,
  );
  assert.equal(parseSnmp(SNMP.replace("947741 18674", "947741 x")), null);
  assert.equal(parseSnmp(""), null);
});

Deno.test("countersDelta() is what happened in between, or null if either reading is missing", () => {
  const before = { udpRcvbufErrors: 10, tcpRetransSegs: 5 };
  const after = { udpRcvbufErrors: 25, tcpRetransSegs: 5 };
  assert.deepEqual(countersDelta(before, after), {
    udpRcvbufErrors: 15,
    tcpRetransSegs: 0,
  });
  assert.equal(countersDelta(null, after), null);
  assert.equal(countersDelta(before, null), null);
});

Deno.test({
  name:
    "readNetCounters() reads this Linux host's counters when it may run cat",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const counters = await readNetCounters();
    assert.ok(counters, "the tests run with --allow-run");
    assert.ok(Number.isInteger(counters.udpRcvbufErrors));
    assert.ok(Number.isInteger(counters.tcpRetransSegs));
  },
});

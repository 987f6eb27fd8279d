import assert from "node:assert/strict";
import {
  Admission,
  LogLimiter,
  ManifestBudget,
  prefixOf,
  type Ticket,
} from "../lib/admission.ts";

/** Admits `n` connections from `peer`, recording which were dropped. */
function admitMany(
  admission: Admission,
  peer: string,
  n: number,
  dropped: string[],
): Ticket[] {
  return Array.from(
    { length: n },
    (_, i) => admission.admit(peer, () => dropped.push(`${peer}#${i}`)),
  );
}

Deno.test("Admission drops the oldest unpaired connection of an address past its share", () => {
  const admission = new Admission({ maxTransfers: 2, maxUnpairedPerPeer: 3 });
  const dropped: string[] = [];
  const tickets = admitMany(admission, "10.0.0.9", 5, dropped);
  assert.deepEqual(dropped, ["10.0.0.9#0", "10.0.0.9#1"]);
  assert.equal(admission.unpaired, 3);
  assert.equal(tickets[0]!.state, "ended");
  assert.equal(tickets[0]!.paired(), false, "a dropped connection never pairs");
});

Deno.test("Admission prefers dropping connections that have not started pairing", () => {
  const admission = new Admission({ maxTransfers: 2, maxUnpairedPerPeer: 2 });
  const dropped: string[] = [];
  const [first, second] = admitMany(admission, "a", 2, dropped);
  first!.progress(); // it sent its share: a real sender, probably
  admission.admit("a", () => dropped.push("a#2"));
  assert.deepEqual(dropped, ["a#1"]);
  assert.equal(first!.state, "unpaired");
  assert.equal(second!.state, "ended");
});

Deno.test("Admission, when the whole pool is full, drops from the address holding the most", () => {
  const admission = new Admission({
    maxTransfers: 2,
    maxUnpairedPerPeer: 10,
    maxUnpaired: 4,
  });
  const dropped: string[] = [];
  admitMany(admission, "stranger", 3, dropped);
  admitMany(admission, "lab-pc", 1, dropped);
  admitMany(admission, "another-pc", 1, dropped);
  assert.deepEqual(dropped, ["stranger#0"]);
  assert.equal(admission.unpaired, 4);
});

Deno.test("Admission gives a transfer slot only to a paired connection, and only while one is free", () => {
  const admission = new Admission({ maxTransfers: 1 });
  const dropped: string[] = [];
  const [a, b] = admitMany(admission, "x", 2, dropped);
  assert.equal(admission.full, false, "unpaired connections hold no slot");
  assert.equal(a!.paired(), true);
  assert.equal(admission.full, true);
  assert.equal(b!.paired(), false, "no slot left");
  a!.end();
  assert.equal(admission.full, false);
  assert.equal(admission.transfers, 0);
  b!.end();
  assert.equal(admission.unpaired, 0);
});

Deno.test("LogLimiter shows a burst per key, then says how many it left out", () => {
  const logs = new LogLimiter({ burst: 2, windowMs: 1000 });
  const shown = [0, 1, 2, 3, 4].map((t) => logs.allow("a", t).show);
  assert.deepEqual(shown, [true, true, false, false, false]);
  assert.equal(logs.allow("b", 5).show, true, "other keys are not held back");
  assert.deepEqual(logs.allow("a", 1000), { show: true, hidden: 3 });
});

Deno.test("LogLimiter says a few lines in all when many keys flood, and each key's next line counts what was left out", () => {
  const logs = new LogLimiter({ burst: 5, windowMs: 1000, total: 3 });
  const shown = Array.from(
    { length: 250 },
    (_, i) => logs.allow(`10.0.${i >> 8}.${i & 255}`, i).show,
  ).filter(Boolean).length;
  assert.equal(shown, 3, "a flood from 250 addresses says 3 lines");
  // A later window: a key that was held back says how many lines it lost.
  assert.deepEqual(logs.allow("10.0.0.9", 1500), { show: true, hidden: 1 });
});

Deno.test("ManifestBudget bounds each address and the whole, and takes nothing past them", () => {
  const budget = new ManifestBudget({ total: 100, perPeer: 60 });
  assert.equal(budget.take("a", 50), true);
  assert.equal(budget.take("a", 20), false, "over a's share");
  assert.equal(budget.take("b", 51), false, "over the whole");
  assert.equal(budget.take("b", 40), true);
  assert.equal(budget.used, 90);
  budget.give("a", 50);
  assert.equal(budget.take("b", 20), true);
  assert.equal(budget.used, 60);
});

Deno.test("prefixOf() puts an IPv4 address in its /24 and an IPv6 one in its /64", () => {
  for (
    const [address, network] of [
      ["10.77.0.23", "10.77.0.0/24"],
      ["::ffff:10.77.0.23", "10.77.0.0/24"],
      ["2001:db8:0:1:ab::5", "2001:db8:0:1::/64"],
      ["2001:db8::1", "2001:db8:0:0::/64"],
      ["fe80::1%eth0", "fe80:0:0:0::/64"],
      ["::1", "0:0:0:0::/64"],
      ["lab-pc", "lab-pc"],
    ] as const
  ) assert.equal(prefixOf(address), network, address);
});

Deno.test("Admission: a flood from 250 addresses of one network takes that network's place, not the senders' of other networks", () => {
  const admission = new Admission({ maxTransfers: 8 });
  const dropped: string[] = [];
  const real: Ticket[] = [];
  for (let i = 0; i < 250; i++) {
    const stranger = `192.0.2.${i + 1}`;
    admission.admit(stranger, () => dropped.push(stranger));
    // Eight real senders arrive among the flood, each from its own network.
    if (i % 30 === 0 && real.length < 8) {
      const peer = `10.${real.length}.0.7`;
      real.push(admission.admit(peer, () => dropped.push(peer)));
    }
  }
  assert.equal(real.length, 8);
  assert.deepEqual(dropped.filter((d) => d.startsWith("10.")), []);
  for (const ticket of real) assert.equal(ticket.paired(), true);
});

Deno.test("Admission keeps at most its share from one network, dropping from the address of it holding the most", () => {
  const admission = new Admission({
    maxTransfers: 2,
    maxUnpairedPerPrefix: 4,
  });
  const dropped: string[] = [];
  admitMany(admission, "192.0.2.1", 3, dropped);
  admitMany(admission, "192.0.2.2", 1, dropped);
  admitMany(admission, "192.0.2.3", 1, dropped);
  assert.deepEqual(dropped, ["192.0.2.1#0"]);
  assert.equal(admission.unpaired, 4);
  admitMany(admission, "10.0.0.1", 1, dropped);
  assert.equal(admission.unpaired, 5, "another network has its own share");
});

Deno.test("Admission with a full pool drops from the network holding the most, even when each of its addresses holds one", () => {
  const admission = new Admission({
    maxTransfers: 2,
    maxUnpaired: 6,
    maxUnpairedPerPrefix: Infinity,
  });
  const dropped: string[] = [];
  admitMany(admission, "10.0.0.7", 1, dropped); // the oldest, a real sender
  for (let i = 1; i <= 8; i++) admitMany(admission, `192.0.2.${i}`, 1, dropped);
  assert.deepEqual(dropped, ["192.0.2.1#0", "192.0.2.2#0", "192.0.2.3#0"]);
});

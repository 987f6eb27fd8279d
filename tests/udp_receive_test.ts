import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { TransferState } from "../lib/session.ts";
import { UDP_HEADER, writeHeader } from "../lib/udp.ts";
import { ReceiveCounters, UdpFileReceiver } from "../lib/udp_receive.ts";
import { tempDir } from "./helpers.ts";

const P = 100; // slot payload in these tests

/** A datagram of file 0 carrying `bytes` from slot `slot` on. */
function datagram(slot: number, bytes: number[], sequence = 0): Uint8Array {
  const d = new Uint8Array(UDP_HEADER + bytes.length);
  writeHeader(d, {
    transfer: 1,
    index: 0,
    sequence,
    offset: slot * P,
    sentMicros: 0,
  });
  d.set(bytes, UDP_HEADER);
  return d;
}

const fill = (n: number, value: number) => new Array<number>(n).fill(value);

async function receiver(size: number, perDatagram: number) {
  const tmp = await tempDir();
  const file = await Deno.open(join(tmp.path, "part"), {
    read: true,
    write: true,
    create: true,
  });
  const counters = new ReceiveCounters();
  const r = new UdpFileReceiver(
    file,
    { size, payload: P, perDatagram },
    0,
    counters,
    new TransferState(),
  );
  return {
    r,
    counters,
    file,
    async [Symbol.asyncDispose]() {
      file.close();
      await tmp[Symbol.asyncDispose]();
    },
  };
}

Deno.test("a datagram of several slots fills each of them, and the file hashes whole", async () => {
  await using t = await receiver(350, 4);
  t.r.onDatagram(datagram(0, fill(300, 1)), 0); // slots 0-2 in one datagram
  t.r.onDatagram(datagram(3, fill(50, 2), 1), 0); // the short last slot alone
  assert.equal(t.r.map.count, 4);
  assert.deepEqual(t.r.map.missing(), []);
  assert.equal(t.counters.received, 2);
  const digest = t.r.finishHash();
  const expected = new Uint8Array(350).fill(1, 0, 300).fill(2, 300);
  assert.equal(digest, createHash("sha256").update(expected).digest("hex"));
});

Deno.test("more slots than agreed, a ragged length or a span past the end is malformed", async () => {
  await using t = await receiver(1000, 2);
  t.r.onDatagram(datagram(0, fill(300, 1)), 0); // 3 slots where 2 were agreed
  t.r.onDatagram(datagram(0, fill(150, 1)), 0); // 1.5 slots: not whole
  t.r.onDatagram(datagram(9, fill(200, 1)), 0); // slots 9 and 10 of a 10-slot file
  assert.equal(t.counters.malformed, 3);
  assert.equal(t.r.map.count, 0);
});

Deno.test("a datagram overlapping slots already here stores only the new ones, and is no duplicate", async () => {
  await using t = await receiver(400, 4);
  t.r.onDatagram(datagram(1, fill(100, 7)), 0);
  t.r.onDatagram(datagram(0, fill(300, 9), 1), 0); // slots 0-2; slot 1 is here
  assert.equal(t.r.map.count, 3);
  assert.equal(t.counters.duplicates, 0);
  t.r.flush();
  const back = new Uint8Array(300);
  await t.file.seek(0, Deno.SeekMode.Start);
  await t.file.read(back);
  assert.deepEqual([back[0], back[150], back[250]], [9, 7, 9]);
  t.r.onDatagram(datagram(0, fill(300, 9), 2), 0); // all three here now
  assert.equal(t.counters.duplicates, 1);
});

Deno.test("probes (every eighth sequence number) are counted apart", async () => {
  await using t = await receiver(1000, 4);
  for (let s = 0; s < 10; s++) t.r.onDatagram(datagram(s, fill(100, s), s), 0);
  assert.equal(t.counters.received, 10);
  assert.equal(t.counters.probes, 1);
});

Deno.test("every run written is reported, so that write-back can start while the pass goes on", async () => {
  await using t = await receiver(1000, 4);
  let reported = 0;
  t.r.onWritten = (n) => reported += n;
  t.r.onDatagram(datagram(5, fill(400, 3)), 0); // slots 5-8, out of order
  t.r.onDatagram(datagram(0, fill(400, 1), 1), 0); // slots 0-3
  t.r.onDatagram(datagram(4, fill(100, 2), 2), 0);
  t.r.onDatagram(datagram(9, fill(100, 4), 3), 0);
  t.r.flush();
  assert.equal(reported, 1000);
});

Deno.test("slots that came ahead of a gap are hashed as soon as the gap fills, not read back at the end", async () => {
  // Datagrams over several lanes arrive out of order: 1, 2, then 0.
  await using t = await receiver(300, 1);
  t.r.onDatagram(datagram(1, fill(100, 2), 1), 0);
  t.r.onDatagram(datagram(2, fill(100, 3), 2), 0);
  t.r.onDatagram(datagram(0, fill(100, 1), 0), 0);
  t.r.flush();
  // What is on disk now no longer matters: the hash has everything.
  t.file.seekSync(0, Deno.SeekMode.Start);
  t.file.writeSync(new Uint8Array(300));
  const expected = new Uint8Array(300).fill(1, 0, 100).fill(2, 100, 200)
    .fill(3, 200);
  assert.equal(
    t.r.finishHash(),
    createHash("sha256").update(expected).digest("hex"),
  );
});

Deno.test("a long stretch ahead of a gap is caught up a step at a time, and the rest read back, all in order", async () => {
  const slots = 3000; // 300,000 bytes ahead: more than one step
  await using t = await receiver(slots * P, 4);
  const expected = new Uint8Array(slots * P);
  for (let s = 0; s < slots; s++) expected.fill(s % 251, s * P, (s + 1) * P);
  const bytesOf = (s: number, n: number) =>
    Array.from(expected.subarray(s * P, (s + n) * P));
  let sequence = 1;
  for (let s = 1; s < slots; s += 4) {
    const n = Math.min(4, slots - s);
    // Each run flushes alone: slot 0's gap keeps them from the hash.
    t.r.onDatagram(datagram(s, bytesOf(s, n), sequence++), 0);
    t.r.flush();
  }
  t.r.onDatagram(datagram(0, bytesOf(0, 1), 0), 0);
  t.r.flush();
  assert.equal(t.r.map.count, slots);
  assert.equal(
    t.r.finishHash(),
    createHash("sha256").update(expected).digest("hex"),
  );
});

Deno.test("holes are asked for early once later datagrams are far past them, each hole once", async () => {
  await using t = await receiver(100 * P, 1);
  for (let s = 0; s < 40; s++) {
    if (s !== 3 && s !== 30) t.r.onDatagram(datagram(s, fill(P, 1), s), 0);
  }
  // Slot 30 is only 9 slots behind the furthest: it may still be on its way.
  assert.deepEqual(t.r.earlyHoles(10, 100), [[3, 1]]);
  assert.deepEqual(t.r.earlyHoles(10, 100), [], "asked for once");
  for (let s = 40; s < 50; s++) t.r.onDatagram(datagram(s, fill(P, 1), s), 0);
  assert.deepEqual(t.r.earlyHoles(10, 100), [[30, 1]]);
  // Filled since, they still count as lost in the first pass.
  t.r.onDatagram(datagram(3, fill(P, 1), 50), 0);
  assert.equal(t.r.filledEarly(), 1);
});

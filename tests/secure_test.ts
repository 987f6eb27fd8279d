/**
 * The record layer, sealed datagrams, the replay window (records.ts) and the pairing
 * gate, in memory; and PROTOCOL.md's worked example, checked against the
 * code and opened with an independent ChaCha20-Poly1305 (@noble/ciphers).
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { concatBytes } from "@noble/hashes/utils.js";
import { IntegrityError, ProtocolError } from "../lib/errors.ts";
import type { Connection } from "../lib/link.ts";
import {
  DatagramOpener,
  type DirectionKey,
  RECORD_MAX,
  RecordLayer,
  type Rejection,
  REPLAY_WINDOW,
  ReplayWindow,
  sealDatagram,
} from "../lib/records.ts";
import { PairingGate } from "../lib/secure.ts";
import { readHeader, UDP_HEADER, writeHeader } from "../lib/udp.ts";
import { renderSecureExample } from "../scripts/secure_example.ts";
import { ROOT, within } from "./helpers.ts";

const key = (fill: number, channel = 0x54, from = 0x41): DirectionKey => ({
  key: new Uint8Array(32).fill(fill),
  prefix: new Uint8Array([channel, from, 0, 0]),
});
const AB = key(1);
const BA = key(2, 0x54, 0x42);

/** A connection whose writes are kept and whose reads serve given bytes. */
function wire(incoming: Uint8Array = new Uint8Array(0)) {
  const written: Uint8Array[] = [];
  let fed = 0;
  const conn: Connection = {
    read(p) {
      if (fed >= incoming.length) return Promise.resolve(null);
      // Small, uneven reads: records must be reassembled across them.
      const n = Math.min(p.length, 1000 + (fed % 777), incoming.length - fed);
      p.set(incoming.subarray(fed, fed + n));
      fed += n;
      return Promise.resolve(n);
    },
    write(p) {
      written.push(p.slice());
      return Promise.resolve(p.length);
    },
    closeWrite: () => Promise.resolve(),
    close: () => {},
  };
  return { conn, written: () => cat(...written) };
}

/** Seals `pieces` as records from A, and returns the wire bytes and each record's bounds. */
async function sealAll(pieces: Uint8Array[]) {
  const w = wire();
  const layer = new RecordLayer(w.conn, AB, BA);
  for (const p of pieces) {
    for (let done = 0; done < p.length;) {
      done += await layer.write(p.subarray(done));
    }
  }
  const bytes = w.written();
  const bounds: [number, number][] = [];
  for (let at = 0; at < bytes.length;) {
    const length = new DataView(bytes.buffer, at, 4).getUint32(0);
    bounds.push([at, at + 4 + length]);
    at += 4 + length;
  }
  return { bytes, bounds };
}

/** Reads everything B's layer yields from `bytes`. */
async function openAll(bytes: Uint8Array): Promise<Uint8Array> {
  const layer = new RecordLayer(wire(bytes).conn, BA, AB);
  const out: Uint8Array[] = [];
  const buf = new Uint8Array(100_000);
  for (;;) {
    const n = await layer.read(buf);
    if (n === null) return cat(...out);
    out.push(buf.slice(0, n));
  }
}

const cat = concatBytes;

const pattern = (n: number, seed = 1) =>
  Uint8Array.from(
    { length: n },
    (_, i) => (i * 31 + seed * 7 + (i >> 9)) & 0xff,
  );

Deno.test("records round-trip, whatever the write sizes", async () => {
  const pieces = [1, 17, RECORD_MAX, RECORD_MAX + 1, 3 * RECORD_MAX + 5, 0, 9]
    .map((n, i) => pattern(n, i));
  const { bytes, bounds } = await sealAll(pieces);
  const all = cat(...pieces);
  assert.deepEqual(await openAll(bytes), all);
  // No record is over the cap, and the plaintext does not appear on the wire.
  for (const [from, to] of bounds) assert.ok(to - from - 4 <= RECORD_MAX + 16);
  assert.equal(
    Buffer.from(bytes).includes(Buffer.from(pieces[2]!.subarray(0, 64))),
    false,
  );
});

Deno.test("a flipped bit, a replayed record and a reordered pair all fail the tag", async () => {
  const { bytes, bounds } = await sealAll([
    pattern(5000, 1),
    pattern(5000, 2),
    pattern(5000, 3),
  ]);
  const record = (k: number) => bytes.slice(bounds[k]![0], bounds[k]![1]);
  const flipped = bytes.slice();
  flipped[bounds[1]![0] + 100]! ^= 0x04;
  const cases: [string, Uint8Array][] = [
    ["flipped", flipped],
    ["replayed", cat(record(0), record(0), record(1))],
    ["reordered", cat(record(0), record(2), record(1))],
    ["dropped", cat(record(0), record(2))],
    [
      "length changed",
      (() => {
        const b = bytes.slice();
        b[bounds[1]![0] + 3]! ^= 0x01;
        return b;
      })(),
    ],
  ];
  for (const [what, wireBytes] of cases) {
    await assert.rejects(openAll(wireBytes), IntegrityError, what);
  }
});

Deno.test("a record header claiming more than RECORD_MAX fails its check at once, whatever follows", async () => {
  // 4 GiB announced, then a steady stream: reading it all would never end.
  const header = new Uint8Array([0xff, 0xff, 0xff, 0xf0]);
  let served = 0;
  const endless: Connection = {
    async read(p) {
      await new Promise((r) => setTimeout(r, 0)); // a real socket yields
      if (served > 64 * 1024 * 1024) return null;
      const from = served < 4 ? header.subarray(served) : new Uint8Array(64);
      const n = Math.min(p.length, from.length);
      p.set(from.subarray(0, n));
      served += n;
      return n;
    },
    write: (p) => Promise.resolve(p.length),
    closeWrite: () => Promise.resolve(),
    close: () => {},
  };
  const layer = new RecordLayer(endless, BA, AB);
  await within(
    10_000,
    "the record layer's verdict",
    assert.rejects(layer.read(new Uint8Array(1024)), IntegrityError),
  );
  assert.ok(served < RECORD_MAX, `read ${served} bytes before refusing`);
});

Deno.test("a stream cut inside a record is truncated, not accepted", async () => {
  const { bytes, bounds } = await sealAll([pattern(5000), pattern(5000)]);
  await assert.rejects(
    openAll(bytes.subarray(0, bounds[1]![0] + 50)),
    (e: unknown) => e instanceof ProtocolError && e.code === "truncated",
  );
  // Cut between records: what arrived is whole and authentic; the session
  // layer sees the missing `done` (tested end to end).
  assert.equal((await openAll(bytes.subarray(0, bounds[1]![0]))).length, 5000);
});

function datagram(sequence: number, payload: Uint8Array, k = key(3, 0x55)) {
  const d = new Uint8Array(UDP_HEADER + payload.length + 16);
  writeHeader(d, {
    transfer: 7,
    index: 0,
    sequence,
    offset: sequence * payload.length,
    sentMicros: 5,
  });
  d.set(payload, UDP_HEADER);
  return d.subarray(0, sealDatagram(k, d, payload.length));
}

Deno.test("sealed datagrams open in any order, once; forged and replayed ones are refused", () => {
  const seen: number[] = [];
  const refused: Rejection[] = [];
  const opener = new DatagramOpener(key(3, 0x55), (why) => refused.push(why));
  opener.inner = {
    onDatagram(d) {
      const h = readHeader(d);
      assert.ok(typeof h !== "string");
      assert.deepEqual(d.subarray(UDP_HEADER), pattern(100, h.sequence));
      seen.push(h.sequence);
    },
  };
  const grams = [0, 1, 2, 3].map((s) => datagram(s, pattern(100, s)));
  for (const k of [2, 0, 3, 1]) opener.onDatagram(grams[k]!.slice(), 0);
  assert.deepEqual(seen, [2, 0, 3, 1]);
  opener.onDatagram(grams[1]!.slice(), 0); // replayed
  const forged = datagram(4, pattern(100, 4));
  forged[UDP_HEADER + 3]! ^= 1;
  opener.onDatagram(forged, 0);
  const moved = datagram(5, pattern(100, 5));
  moved[31]! ^= 1; // the offset, in the header: authenticated too
  opener.onDatagram(moved, 0);
  opener.onDatagram(datagram(6, pattern(100, 6), key(9, 0x55)), 0); // another key
  assert.deepEqual(refused, ["replayed", "forged", "forged", "forged"]);
  assert.deepEqual(seen, [2, 0, 3, 1]);
});

Deno.test("the replay window takes each sequence once and refuses stale ones", () => {
  const w = new ReplayWindow();
  assert.ok(w.accept(10));
  assert.ok(w.accept(3));
  assert.ok(!w.accept(3));
  assert.ok(!w.accept(10));
  assert.ok(w.accept(10 + REPLAY_WINDOW));
  assert.ok(!w.accept(10), "outside the window");
  assert.ok(w.accept(20), "inside the window, unseen");
  assert.ok(w.accept(5 * REPLAY_WINDOW));
  assert.ok(w.accept(5 * REPLAY_WINDOW - 1));
  assert.ok(!w.accept(5 * REPLAY_WINDOW - 1));
});

Deno.test("the pairing gate locks at the limit, counting pairings in progress", async () => {
  let locked = 0;
  const gate = new PairingGate(3, () => locked++);
  assert.ok(await gate.begin());
  assert.ok(await gate.begin());
  assert.ok(await gate.begin());
  // A fourth waits: three attempts are under way.
  let fourth: boolean | undefined;
  const waiting = gate.begin().then((ok) => (fourth = ok));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(fourth, undefined);
  gate.end(true); // a good pairing frees its place
  await waiting;
  assert.equal(fourth, true);
  gate.end(false);
  gate.end(false);
  gate.end(false);
  assert.ok(gate.locked);
  assert.equal(locked, 1);
  assert.equal(await gate.begin(), false);
});

Deno.test("PROTOCOL.md's secure example is exactly what the code produces", async () => {
  const doc = await Deno.readTextFile(join(ROOT, "PROTOCOL.md"));
  const section = doc.slice(doc.indexOf("Worked example\n"));
  const block = /```\n([\s\S]*?)\n```/.exec(section)?.[1];
  assert.equal(
    block,
    await renderSecureExample(),
    "regenerate with: deno run scripts/secure_example.ts",
  );
});

Deno.test("the example's record and datagram open with an independent ChaCha20-Poly1305", async () => {
  const text = await renderSecureExample();
  const value = (label: string) => {
    const at = text.split("\n").findIndex((l) => l.startsWith(label));
    let hex = text.split("\n")[at]!.slice(18);
    for (const l of text.split("\n").slice(at + 1)) {
      if (!l.startsWith(" ")) break;
      hex += l.trim();
    }
    return Uint8Array.from(hex.match(/../g)!, (x) => parseInt(x, 16));
  };
  const nonce = (channel: number) =>
    new Uint8Array([channel, 0x41, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  const record = value("record 0 A>B");
  const opened = chacha20poly1305(
    value("key tcp A>B"),
    nonce(0x54),
    record.subarray(0, 4),
  ).decrypt(record.subarray(4));
  assert.deepEqual(opened, value("frame (plain)"));
  const d = value("datagram 0 A>B");
  const payload = chacha20poly1305(
    value("key udp A>B"),
    nonce(0x55),
    d.subarray(0, UDP_HEADER),
  ).decrypt(d.subarray(UDP_HEADER));
  assert.equal(new TextDecoder().decode(payload), "hola\n");
});

/** Two connections joined in memory; each keeps what it wrote, a write at a time. */
function joined(): [
  Connection & { sent: Uint8Array[] },
  Connection & { sent: Uint8Array[] },
] {
  const end = (inbox: Uint8Array[], wait: { wake?: () => void }) => {
    let closed = false;
    return {
      sent: [] as Uint8Array[],
      read: async (p: Uint8Array) => {
        while (inbox.length === 0) {
          if (closed) return null;
          await new Promise<void>((r) => (wait.wake = r));
        }
        const head = inbox[0]!;
        const n = Math.min(p.length, head.length);
        p.set(head.subarray(0, n));
        if (n === head.length) inbox.shift();
        else inbox[0] = head.subarray(n);
        return n;
      },
      closeWrite: () => Promise.resolve(),
      close: () => {
        closed = true;
        wait.wake?.();
      },
    };
  };
  const toA: Uint8Array[] = [];
  const toB: Uint8Array[] = [];
  const waitA: { wake?: () => void } = {};
  const waitB: { wake?: () => void } = {};
  const a = end(toA, waitA);
  const b = end(toB, waitB);
  const writer = (
    self: { sent: Uint8Array[] },
    inbox: Uint8Array[],
    wait: { wake?: () => void },
  ) =>
  (p: Uint8Array) => {
    self.sent.push(p.slice());
    inbox.push(p.slice());
    wait.wake?.();
    return Promise.resolve(p.length);
  };
  return [
    { ...a, write: writer(a, toB, waitB) },
    { ...b, write: writer(b, toA, waitA) },
  ];
}

/** A value of the worked example, by its label, as bytes. */
async function example(label: string): Promise<Uint8Array> {
  const lines = (await renderSecureExample()).split("\n");
  const at = lines.findIndex((l) => l.startsWith(label + " "));
  assert.ok(at >= 0, label);
  let hex = lines[at]!.slice(18);
  for (const l of lines.slice(at + 1)) {
    if (!l.startsWith(" ")) break;
    hex += l.trim();
  }
  return Uint8Array.from(hex.match(/../g)!, (x) => parseInt(x, 16));
}

Deno.test("the worked example's second record and its datagram of file 3, sequence 7, open with an independent ChaCha20-Poly1305 whose nonces take the sequence numbers", async () => {
  const nonce = (channel: number, sequence: number) => {
    const n = new Uint8Array([channel, 0x41, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    new DataView(n.buffer).setUint32(8, sequence);
    return n;
  };
  const record = await example("record 1 A>B");
  assert.deepEqual(
    chacha20poly1305(
      await example("key tcp A>B"),
      nonce(0x54, 1),
      record.subarray(0, 4),
    ).decrypt(record.subarray(4)),
    await example("frame 1 (plain)"),
  );
  const d = await example("datagram 7 A>B");
  assert.equal(new DataView(d.buffer).getUint32(8), 3, "file 3");
  const payload = chacha20poly1305(
    await example("key udp A>B"),
    nonce(0x55, 7),
    d.subarray(0, UDP_HEADER),
  ).decrypt(d.subarray(UDP_HEADER));
  assert.equal(new TextDecoder().decode(payload), "adios\n");
});

Deno.test("the real pairing, with the worked example's scalars, sends its shares and confirmations byte for byte, and the real opener takes its datagram 7", async () => {
  const [connA, connB] = joined();
  const { Link } = await import("../lib/link.ts");
  const { FrameReader } = await import("../lib/frames.ts");
  const { pair } = await import("../lib/secure.ts");
  const { decodeControl } = await import("../lib/protocol.ts");
  const X = 0x43dd0fd7215bdcb482879fca3220c6a968e66d70b1356cac18bb26c84a78d729n;
  const Y = 0xdcb60106f276b02606d8ef0a328c02e4b629f84f89786af5befb0bc75b6e66ben;
  const a = new Link(connA, { timeoutMs: 0 });
  const b = new Link(connB, { timeoutMs: 0 });
  await within(
    10_000,
    "both pairings",
    Promise.all([
      pair(a, new FrameReader(a), {
        code: "7-guitar-nebula",
        initiator: true,
        scalar: X,
      }),
      pair(b, new FrameReader(b), {
        code: "7-guitar-nebula",
        initiator: false,
        scalar: Y,
      }),
    ]),
  );
  const frames = (chunks: Uint8Array[]) =>
    chunks.map((c) => decodeControl(c.subarray(4)) as Record<string, string>);
  const [pakeA, confirmA] = frames(connA.sent);
  const [pakeB] = frames(connB.sent);
  const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
  assert.equal(pakeA!.share, hex(await example("pA (A sends)")));
  assert.equal(pakeB!.share, hex(await example("pB (B sends)")));
  assert.equal(pakeB!.confirm, hex(await example("cB (B sends)")));
  assert.equal(confirmA!.confirm, hex(await example("cA (A sends)")));
  // A's first record, through the real record layer, is the example's.
  const { writeControl } = await import("../lib/frames.ts");
  await writeControl(a, {
    type: "manifest",
    entries: [{ path: "hola.txt", type: "file", size: 5 }],
    last: true,
  });
  assert.deepEqual(connA.sent.at(-1), await example("record 0 A>B"));
  // And B's real opener takes A's datagram of file 3, sequence 7.
  const opened: Uint8Array[] = [];
  const opener = new DatagramOpener(b.datagramKeys!.in, (why) => {
    throw new Error(`refused: ${why}`);
  });
  opener.inner = { onDatagram: (d) => opened.push(d.slice()) };
  opener.onDatagram(await example("datagram 7 A>B"), 0);
  assert.equal(readHeader(opened[0]!) instanceof Object, true);
  assert.equal(
    new TextDecoder().decode(opened[0]!.subarray(UDP_HEADER)),
    "adios\n",
  );
  a.close();
  b.close();
});

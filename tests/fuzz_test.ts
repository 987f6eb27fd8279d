/**
 * Seeded fuzzing of the protocol parsers and of a live `receive --keep`.
 * The seed is in every test's name; PASA_FUZZ_SEED=N reproduces a run.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { PasaError } from "../lib/errors.ts";
import { type ByteSource, concat, FrameReader } from "../lib/frames.ts";
import {
  encodeControl,
  encodePreamble,
  type Entry,
  type Message,
} from "../lib/protocol.ts";
import { TransferState } from "../lib/session.ts";
import { readHeader, UDP_HEADER, writeHeader } from "../lib/udp.ts";
import { ReceiveCounters, UdpFileReceiver } from "../lib/udp_receive.ts";
import {
  listTree,
  peakRss,
  sendTo,
  sha256File,
  startListening,
  tempDir,
  TESTFILES,
  within,
} from "./helpers.ts";
import { connectAsSender, offer, sendBody } from "./peer.ts";
import { prng } from "./udp_relay.ts";

const SEED = Number(Deno.env.get("PASA_FUZZ_SEED") ?? 20261124);

/** A valid opening of a session, as a sender sends it. */
function validSession(random: () => number): Uint8Array {
  const messages: Message[] = [
    { type: "hello", role: "sender", software: "fuzz", security: ["none"] },
    {
      type: "manifest",
      entries: [{
        path: `f${Math.floor(random() * 100)}.bin`,
        type: "file",
        size: 16,
      }, { path: "d", type: "dir" }],
      last: true,
    },
  ];
  const chunk = new Uint8Array(4 + 16);
  new DataView(chunk.buffer).setUint32(0, 16);
  return concat(
    encodePreamble(),
    ...messages.map(encodeControl),
    chunk,
    new Uint8Array(4),
  );
}

/** Random damage: flips, inserts, deletions, truncation, absurd lengths, or pure noise. */
function mutate(input: Uint8Array, random: () => number): Uint8Array {
  const int = (n: number) => Math.floor(random() * n);
  if (random() < 0.1) return crypto.getRandomValues(new Uint8Array(int(200)));
  let bytes: Uint8Array = input.slice();
  for (let k = 1 + int(4); k > 0; k--) {
    const at = int(bytes.length + 1);
    switch (int(5)) {
      case 0:
        if (bytes.length) bytes[at % bytes.length]! ^= 1 << int(8);
        break;
      case 1:
        bytes = concat(
          bytes.subarray(0, at),
          crypto.getRandomValues(new Uint8Array(1 + int(8))),
          bytes.subarray(at),
        );
        break;
      case 2:
        bytes = concat(bytes.subarray(0, at), bytes.subarray(at + 1 + int(16)));
        break;
      case 3:
        bytes = bytes.subarray(0, at);
        break;
      case 4: // an absurd length where a frame length would be
        if (bytes.length >= at + 4) {
          new DataView(bytes.buffer, bytes.byteOffset).setUint32(
            at,
            random() * 2 ** 32,
          );
        }
        break;
    }
  }
  return bytes;
}

function sourceOf(bytes: Uint8Array, random: () => number): ByteSource {
  let at = 0;
  return {
    read(p) {
      if (at >= bytes.length) return Promise.resolve(null);
      const n = Math.min(
        p.length,
        bytes.length - at,
        1 + Math.floor(random() * 64),
      );
      p.set(bytes.subarray(at, at + n));
      at += n;
      return Promise.resolve(n);
    },
  };
}

Deno.test(`fuzz (seed ${SEED}): 10,000 mutated frames give messages or protocol errors, nothing else`, async () => {
  const random = prng(SEED);
  let errors = 0;
  for (let i = 0; i < 10_000; i++) {
    const reader = new FrameReader(
      sourceOf(mutate(validSession(random), random), random),
      { bufferSize: 70_000 },
    );
    try {
      await reader.readExact(8, "preamble");
      for (let f = 0; f < 4; f++) await reader.readControl();
    } catch (error) {
      if (!(error instanceof PasaError)) {
        throw new Error(`case ${i} (seed ${SEED}): ${error}`, { cause: error });
      }
      errors++;
    }
  }
  assert.ok(errors > 5000, `most mutations are caught (${errors})`);
});

Deno.test(`fuzz (seed ${SEED}): 10,000 mutated datagrams are read or refused, never thrown`, async () => {
  const random = prng(SEED + 1);
  await using tmp = await tempDir();
  const file = await Deno.open(join(tmp.path, "part"), {
    read: true,
    write: true,
    create: true,
  });
  const size = 100_000;
  const counters = new ReceiveCounters();
  const receiver = new UdpFileReceiver(
    file,
    { size, payload: 1432, perDatagram: 4 },
    0,
    counters,
    new TransferState(),
  );
  const valid = new Uint8Array(UDP_HEADER + 1432);
  for (let i = 0; i < 10_000; i++) {
    writeHeader(valid, {
      transfer: 7,
      index: 0,
      sequence: i,
      offset: Math.floor(random() * 70) * 1432,
      sentMicros: i,
    });
    const d = mutate(valid, random);
    const header = readHeader(d); // never throws
    assert.ok(typeof header === "string" || typeof header.offset === "number");
    receiver.onDatagram(d, i); // never throws, never writes outside the file
  }
  receiver.flush();
  receiver.check();
  assert.ok(
    counters.malformed > 1000,
    `malformed counted: ${counters.malformed}`,
  );
  assert.ok(
    (await file.stat()).size <= size,
    "nothing written past the end of the file",
  );
  file.close();
});

Deno.test(`fuzz (seed ${SEED}): a live receive --keep survives mutated sessions and datagrams, then serves`, async () => {
  const random = prng(SEED + 2);
  await using tmp = await tempDir();
  const out = join(tmp.path, "out");
  await using receiver = await startListening([
    "receive",
    "--keep",
    "--udp",
    "--timeout",
    "2",
    "--out",
    out,
  ]);
  const port = receiver.port;
  const buf = new Uint8Array(4096);
  for (let batch = 0; batch < 30; batch++) {
    await Promise.all(Array.from({ length: 10 }, async () => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        await conn.write(mutate(validSession(random), random)).catch(() => 0);
        await conn.closeWrite().catch(() => {});
        // Until the receiver hangs up (bounded by its --timeout).
        while (await conn.read(buf).catch(() => null) !== null) { /* drain */ }
      } finally {
        conn.close();
      }
    }));
  }
  const udp = Deno.listenDatagram({
    hostname: "127.0.0.1",
    port: 0,
    transport: "udp",
  });
  const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port };
  const datagram = new Uint8Array(UDP_HEADER + 64);
  for (let i = 0; i < 10_000; i++) {
    writeHeader(datagram, {
      transfer: i,
      index: 0,
      sequence: i,
      offset: 0,
      sentMicros: 0,
    });
    await udp.send(mutate(datagram, random), to).catch(() => 0);
  }
  udp.close();
  const file = join(tmp.path, "after.bin");
  await Deno.writeFile(file, new Uint8Array(500_000).map((_, i) => i & 0xff));
  const tcp = await sendTo(port, file);
  assert.equal(tcp.code, 0, tcp.stderr);
  await Deno.rename(join(out, "after.bin"), join(out, "tcp.bin"));
  const overUdp = await sendTo(port, file, "--udp");
  assert.equal(overUdp.code, 0, overUdp.stderr);
  receiver.kill();
  const received = await receiver.result();
  assert.doesNotMatch(
    received.stderr,
    /Uncaught|panicked|TypeError|RangeError/,
  );
  assert.equal(
    await sha256File(join(out, "after.bin")),
    await sha256File(file),
  );
});

/** Path segments a hostile sender might try, the tricky with the plain. */
const SEGMENTS = [
  "a",
  "A",
  "b.txt",
  "B.TXT",
  "caf\u00e9",
  "cafe\u0301",
  "..",
  ".",
  "",
  "x.pasa.part",
  "Y.PASA.PART",
  "lone\ud800",
  "rep\ufffd",
  "back\\slash",
  "nul\u0000",
  "C:",
  "r\u202egnp.exe",
  "d".repeat(200),
  "e".repeat(256),
];

/** A random manifest: names of random depth from SEGMENTS, sizes, dirs, duplicates. */
function randomManifest(random: () => number): Entry[] {
  const pick = <T>(list: readonly T[]) =>
    list[Math.floor(random() * list.length)]!;
  const count = 1 + Math.floor(random() * 12);
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const depth = random() < 0.05
      ? 100 + Math.floor(random() * 60)
      : 1 + Math.floor(random() * 4);
    const segment = () =>
      random() < 0.85 ? `n${Math.floor(random() * 40)}` : pick(SEGMENTS);
    const path = Array.from({ length: depth }, segment).join("/");
    if (random() < 0.3) entries.push({ path, type: "dir" });
    else {
      entries.push({
        path,
        type: "file",
        size: random() < 0.1 ? 2 ** 50 : Math.floor(random() * 3000),
      });
    }
    if (random() < 0.1) {
      entries.push(entries[Math.floor(random() * entries.length)]!);
    }
  }
  return entries;
}

Deno.test(`fuzz (seed ${SEED}): whole manifests from paired senders never write outside --out or a file other than what was hashed`, async (t) => {
  const random = prng(SEED + 3);
  await using tmp = await tempDir();
  const out = join(tmp.path, "out");
  await using receiver = await startListening([
    "receive",
    "--keep",
    "--max-size",
    "1G",
    "--timeout",
    "5",
    "--out",
    out,
  ]);
  // What each sender hashed, by the name it was confirmed under.
  const confirmed = new Map<string, string>();
  for (let round = 0; round < 150; round++) {
    const entries = randomManifest(random);
    using peer = await connectAsSender(receiver.port);
    const answer = await offer(peer, entries);
    if (answer.type !== "accept") continue;
    // Names already here are offered for resuming: decline, start over.
    const offers = answer.offers ?? 0;
    for (let k = 0; k < offers; k++) {
      const o = await peer.next();
      assert.equal(o.type, "resume-offer");
      if (o.type !== "resume-offer") break;
      await peer.send({ type: "resume-claim", index: o.index, offset: 0 });
    }
    for (let k = 0; k < offers; k++) await peer.next();
    const files = entries.filter((e) => e.type === "file");
    let index = 0;
    for (const file of files) {
      const body = new Uint8Array(file.size ?? 0).map(() => random() * 256);
      const sha256 = await sendBody(peer, index++, body);
      const reply = await within(10_000, "file-ok", peer.next());
      if (reply.type !== "file-ok") break;
      assert.equal(reply.sha256, sha256);
      confirmed.set(file.path, sha256);
    }
  }
  // The receiver still serves a real sender.
  const sent = await sendTo(receiver.port, join(TESTFILES, "all-bytes.bin"));
  assert.equal(sent.code, 0, sent.stderr);
  const rss = await peakRss(receiver.pid);
  receiver.kill();
  const received = await within(10_000, "the receiver", receiver.result());
  assert.doesNotMatch(received.stderr, /Uncaught|panicked|TypeError/);
  // Nothing outside --out, no part file left, every file what its sender hashed.
  const tree = await listTree(tmp.path);
  assert.ok(tree.every((p) => p.startsWith("out/")), tree.join("\n"));
  assert.ok(tree.every((p) => !p.endsWith(".pasa.part")), tree.join("\n"));
  assert.ok(confirmed.size > 10, `only ${confirmed.size} files got through`);
  for (const [name, sha256] of confirmed) {
    assert.equal(await sha256File(join(out, name)), sha256, name);
  }
  if (rss === null) {
    await t.step({
      name: "(the memory bound is skipped: /proc cannot be read here)",
      ignore: true,
      fn: () => {},
    });
  } else assert.ok(rss < 1e9, `peak RSS ${rss} bytes`);
});

/**
 * Conformance: each test plays one normative statement of PROTOCOL.md from
 * hand-written frames and names the section it checks, so that the document
 * and the tool cannot drift apart unnoticed. tests/statements_test.ts
 * lists every MUST and SHOULD of the document with the tests that check it,
 * here or in the other suites (hostile, liars, fuzz, protocol, the lab).
 *
 * @module
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { concat, FrameReader } from "../lib/frames.ts";
import { UDP_HEADER, writeHeader } from "../lib/udp.ts";
import { errorFromPeer, ExitCode, exitCodeOf } from "../lib/errors.ts";
import {
  ABORT_CHUNK,
  decodeControl,
  decodePreamble,
  encodeControl,
  encodePreamble,
} from "../lib/protocol.ts";
import {
  keepReceiver,
  listTree,
  type Receiver,
  runPasa,
  startListening,
  StillWaiting,
  tempDir,
  TEST_CODE,
  within,
} from "./helpers.ts";
import {
  chunkFrame,
  connectAsSender,
  connectRaw,
  listenAsReceiver,
  type Peer,
  readBody,
  sendBody,
} from "./peer.ts";

async function stop(receiver: Receiver): Promise<void> {
  receiver.kill();
  await within(10_000, "the receiver", receiver.result());
}

/** The error frame that ends what `peer` did, within ten seconds. */
async function refusal(peer: Peer): Promise<{ code: string; message: string }> {
  for (;;) {
    const m = await within(10_000, "the receiver's answer", peer.next());
    if (m.type === "error") return m;
  }
}

Deno.test("§2: to a peer that is not pasa, a receiver sends its preamble and hello, then error not-pasa, and closes", async () => {
  await using tmp = await tempDir();
  await using receiver = await keepReceiver(tmp.path);
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: receiver.port,
  });
  await conn.write(new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n"));
  const reader = new FrameReader(conn);
  const magic = await reader.readExact(8, "preamble");
  assert.equal(new TextDecoder().decode(magic.subarray(0, 4)), "PASA");
  assert.equal((await reader.readControl()).type, "hello");
  const error = await reader.readControl();
  assert.deepEqual(error.type === "error" && error.code, "not-pasa");
  conn.close();
  await stop(receiver);
});

Deno.test("§5: a manifest frame without `last` is malformed (protocol)", async () => {
  await using tmp = await tempDir();
  await using receiver = await keepReceiver(tmp.path);
  using peer = await connectAsSender(receiver.port);
  await peer.write(
    encodeFrame({ type: "manifest", entries: [] }),
  );
  const error = await refusal(peer);
  assert.equal(error.code, "protocol");
  assert.match(error.message, /"last" is missing/);
  await stop(receiver);
});

Deno.test("§5: numbers are non-negative integers: 1.0 is 1, while 1.5 and an mtime of -1 are malformed", () => {
  const frame = (entry: Record<string, unknown>) =>
    new TextEncoder().encode(
      JSON.stringify({ type: "manifest", entries: [entry], last: true }),
    );
  const one = decodeControl(frame({ path: "a", type: "file", size: 1.0 }));
  assert.deepEqual(one.type === "manifest" && one.entries[0], {
    path: "a",
    type: "file",
    size: 1,
  });
  for (const bad of [{ size: 1.5 }, { size: 1, mtime: -1 }]) {
    assert.throws(
      () => decodeControl(frame({ path: "a", type: "file", ...bad })),
      /must be a non-negative integer/,
      JSON.stringify(bad),
    );
  }
  assert.throws(
    () => decodeControl(frame({ path: "a", type: "file" })),
    /"size" is missing/,
    "size is required, even if null",
  );
});

Deno.test("§5: parent directories need not be listed; §6: a dir entry whose place is a directory is accepted", async () => {
  await using tmp = await tempDir();
  await Deno.mkdir(join(tmp.path, "there"));
  await using receiver = await keepReceiver(tmp.path);
  using peer = await connectAsSender(receiver.port);
  const body = new TextEncoder().encode("hola\n");
  await peer.send({
    type: "manifest",
    entries: [
      { path: "there", type: "dir" },
      { path: "deep/er/hola.txt", type: "file", size: body.length },
    ],
    last: true,
  });
  assert.equal((await peer.next()).type, "accept");
  const sha256 = await sendBody(peer, 0, body);
  const ok = await within(10_000, "file-ok", peer.next());
  assert.deepEqual(ok, { type: "file-ok", index: 0, sha256 });
  const done = await within(10_000, "done", peer.next());
  assert.deepEqual(
    done.type === "done" && [done.files, done.bytes],
    [1, body.length],
  );
  await stop(receiver);
  assert.deepEqual(await listTree(tmp.path), [
    "deep/",
    "deep/er/",
    "deep/er/hola.txt",
    "there/",
  ]);
});

for (
  const [code, kept] of [["interrupted", true], ["protocol", false]] as const
) {
  Deno.test(
    `§3: ABORT_CHUNK then error ${code}: the receiver ${
      kept ? "keeps" : "deletes"
    } the .part`,
    async () => {
      await using tmp = await tempDir();
      await using receiver = await keepReceiver(tmp.path);
      using peer = await connectAsSender(receiver.port);
      await peer.send({
        type: "manifest",
        entries: [{ path: "cut.bin", type: "file", size: 1000 }],
        last: true,
      });
      assert.equal((await peer.next()).type, "accept");
      await peer.write(chunkFrame(new Uint8Array(400).fill(9)));
      const abort = new Uint8Array(4);
      new DataView(abort.buffer).setUint32(0, ABORT_CHUNK);
      await peer.write(abort);
      await peer.send({ type: "error", code, message: "stopping here" });
      // The receiver answers nothing to an error; it closes.
      const answered = await within(
        10_000,
        "the receiver closing",
        peer.next().then((m) => m, () => undefined),
      );
      assert.equal(answered, undefined, "no frame answers an error");
      await stop(receiver);
      assert.deepEqual(
        await listTree(tmp.path),
        kept ? ["cut.bin.pasa.part"] : [],
      );
    },
  );
}

Deno.test("§4.1: a share in upper-case hex is a malformed frame (protocol)", () => {
  const share = "04" + "AB".repeat(64);
  assert.throws(
    () =>
      decodeControl(
        new TextEncoder().encode(JSON.stringify({ type: "pake", share })),
      ),
    /uncompressed P-256 point in hex/,
  );
});

Deno.test("§5.3: offers, claims and answers in order for 4,000 files, claimed one by one as each offer is read", async () => {
  await using tmp = await tempDir();
  // Many files already there, each offered for resuming. (Loopback's buffers
  // hold these 4,000 either way: the wait that claiming while offers still
  // came could cause took 100,000 files, measured in bench/README.md.)
  const count = 4000;
  const dir = join(tmp.path, "many");
  await Deno.mkdir(dir);
  const entries = [];
  for (let i = 0; i < count; i++) {
    const name = `f${String(i).padStart(5, "0")}-${"x".repeat(60)}.txt`;
    await Deno.writeTextFile(join(dir, name), "1");
    // No mtime: each is offered to be hashed, and claimed with a digest.
    entries.push({ path: `many/${name}`, type: "file" as const, size: 1 });
  }
  await using receiver = await keepReceiver(tmp.path);
  using peer = await connectAsSender(receiver.port);
  for (let i = 0; i < count; i += 200) {
    await peer.send({
      type: "manifest",
      entries: entries.slice(i, i + 200),
      last: i + 200 >= count,
    });
  }
  const accept = await within(30_000, "accept", peer.next());
  assert.equal(accept.type === "accept" && accept.offers, count);
  const digest =
    "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b";
  for (let i = 0; i < count; i++) {
    const offer = await within(30_000, `offer ${i}`, peer.next());
    assert.equal(offer.type, "resume-offer");
    // Claimed at once, before reading the next offer.
    await peer.send({
      type: "resume-claim",
      index: i,
      offset: 1,
      sha256: digest,
    });
  }
  for (let i = 0; i < count; i++) {
    const answer = await within(30_000, `answer ${i}`, peer.next());
    assert.deepEqual(answer, { type: "resume-answer", index: i, offset: 1 });
  }
  // Each file already there: an empty body, and file-end for the whole file.
  for (let i = 0; i < count; i++) {
    await peer.write(new Uint8Array(4));
    await peer.send({ type: "file-end", index: i, size: 1, sha256: digest });
  }
  for (let i = 0; i < count; i++) {
    const ok = await within(30_000, `file-ok ${i}`, peer.next());
    assert.deepEqual(ok, { type: "file-ok", index: i, sha256: digest });
  }
  const done = await within(30_000, "done", peer.next());
  assert.deepEqual(done.type === "done" && done.files, count);
  await stop(receiver);
});

function encodeFrame(message: Record<string, unknown>): Uint8Array {
  return encodeControl(message as never);
}

/** Offers one file of `size` bytes, expecting the accept. */
async function offered(peer: Peer, size: number, path = "f.bin") {
  await oneFile(peer, path, size);
  const accept = await within(10_000, "accept", peer.next());
  assert.equal(accept.type, "accept");
}

/** A manifest of one file. */
function oneFile(peer: Peer, path: string, size: number): Promise<void> {
  return peer.send({
    type: "manifest",
    entries: [{ path, type: "file", size }],
    last: true,
  });
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

for (
  const [what, bytes] of [
    ["a zero-length control frame", u32(0)],
    [
      "a control frame over 65,536 bytes (refused before it is read)",
      u32(65_537),
    ],
  ] as const
) {
  Deno.test(`§3: ${what} is a protocol error`, async () => {
    await using tmp = await tempDir();
    await using receiver = await keepReceiver(tmp.path);
    using peer = await connectAsSender(receiver.port);
    await peer.write(bytes);
    assert.equal((await refusal(peer)).code, "protocol");
    await stop(receiver);
  });
}

Deno.test("§3: a chunk length over 16 MiB that is not ABORT_CHUNK is a protocol error, and the .part is deleted", async () => {
  await using tmp = await tempDir();
  await using receiver = await keepReceiver(tmp.path);
  using peer = await connectAsSender(receiver.port);
  await offered(peer, 100);
  await peer.write(u32(16 * 1024 * 1024 + 1));
  assert.equal((await refusal(peer)).code, "protocol");
  await stop(receiver);
  assert.deepEqual(await listTree(tmp.path), []);
});

for (
  const [what, body, end, code] of [
    ["more bytes than declared", 101, { size: 101 }, "protocol"],
    ["fewer bytes than declared", 99, { size: 99 }, "protocol"],
    ["a file-end for another index", 100, { index: 1 }, "protocol"],
    ["a digest that differs", 100, { sha256: "0".repeat(64) }, "integrity"],
  ] as const
) {
  Deno.test(`§5.2: ${what} is refused (${code}) and leaves no file`, async () => {
    await using tmp = await tempDir();
    await using receiver = await keepReceiver(tmp.path);
    using peer = await connectAsSender(receiver.port);
    await offered(peer, 100);
    const bytes = new Uint8Array(body).fill(1);
    await peer.write(chunkFrame(bytes));
    await peer.write(u32(0));
    const { createHash } = await import("node:crypto");
    await peer.send({
      type: "file-end",
      index: 0,
      size: body,
      sha256: createHash("sha256").update(bytes).digest("hex"),
      ...end,
    });
    assert.equal((await refusal(peer)).code, code);
    await stop(receiver);
    assert.deepEqual(await listTree(tmp.path), []);
  });
}

for (
  const name of [
    "../escape.txt",
    "a/./b.txt",
    "/abs.txt",
    "C:evil.txt",
    "back\\slash.txt",
    "bell\u0007.txt",
    "notes.txt.pasa.part",
    "x/" + "y".repeat(256),
  ]
) {
  Deno.test(`§6: the name ${JSON.stringify(name.slice(0, 24))} is refused (unsafe-name) and nothing is written`, async () => {
    await using tmp = await tempDir();
    await using receiver = await keepReceiver(tmp.path);
    using peer = await connectAsSender(receiver.port);
    await oneFile(peer, name, 1);
    assert.equal((await refusal(peer)).code, "unsafe-name");
    await stop(receiver);
    assert.deepEqual(await listTree(tmp.path), []);
  });
}

Deno.test("§5.3: a claim at an offset other than 0 and the offered one is a protocol error", async () => {
  await using tmp = await tempDir();
  await Deno.writeFile(join(tmp.path, "f.bin.pasa.part"), new Uint8Array(50));
  await using receiver = await keepReceiver(tmp.path);
  using peer = await connectAsSender(receiver.port);
  await oneFile(peer, "f.bin", 100);
  assert.equal((await peer.nextRaw()).offers, 1);
  assert.deepEqual(await peer.nextRaw(), {
    type: "resume-offer",
    index: 0,
    offset: 50,
  });
  await peer.send({
    type: "resume-claim",
    index: 0,
    offset: 25,
    sha256: "0".repeat(64),
  });
  assert.equal((await refusal(peer)).code, "protocol");
  await stop(receiver);
});

Deno.test("§3: a sender that cannot read a file inside its body aborts the body before its error; the receiver reads the error, not a chunk, and the sender says its own reason", async () => {
  const { sendSession } = await import("../lib/send.ts");
  await using tmp = await tempDir();
  await using receiver = await startListening([
    "receive",
    "--code",
    TEST_CODE,
    "--out",
    tmp.path,
    "--json",
  ]);
  using peer = await connectAsSender(receiver.port);
  // A source that gives 300 bytes, then fails.
  let given = 0;
  const failing = {
    read(p: Uint8Array): Promise<number | null> {
      if (given >= 300) throw new TypeError("the source broke");
      const n = Math.min(p.length, 300 - given);
      p.fill(7, 0, n);
      given += n;
      return Promise.resolve(n);
    },
    readAt: () => Promise.reject(new TypeError("not used")),
    close() {},
  };
  await assert.rejects(
    () =>
      sendSession(peer.link, [{
        entry: { path: "broken.bin", type: "file", size: 1000 },
        input: () => failing,
      }], { handshaken: peer.reader }),
    /Cannot read broken\.bin: the source broke/,
  );
  const result = await within(10_000, "the receiver", receiver.result());
  // The receiver heard the sender's error, not a chunk made of the error
  // frame's bytes, and kept no part of a file that could not be read.
  assert.match(
    result.stderr,
    /Sender reported: Cannot read broken\.bin: the source broke/,
  );
  assert.deepEqual(await listTree(tmp.path), []);
});

/** Every control frame in `bytes` after the 8-byte preamble. */
function framesAfterPreamble(bytes: Uint8Array) {
  const frames = [];
  for (let at = 8; at + 4 <= bytes.length;) {
    const length = new DataView(bytes.buffer, bytes.byteOffset + at)
      .getUint32(0);
    frames.push(decodeControl(bytes.subarray(at + 4, at + 4 + length)));
    at += 4 + length;
  }
  return frames;
}

/** Everything a connection receives until the peer closes it (ten seconds at most). */
async function readToClose(conn: Deno.Conn): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(65_536);
  for (;;) {
    // The stream's end or a reset is the close; a wait that runs out is not.
    const n = await within(10_000, "the receiver closing", conn.read(buf))
      .catch((error) => {
        if (error instanceof StillWaiting) throw error;
        return null;
      });
    if (n === null) break;
    chunks.push(buf.slice(0, n));
  }
  return concat(...chunks);
}

Deno.test("§2: a preamble of another version is answered with error version, and the connection closes", async () => {
  await using tmp = await tempDir();
  await using receiver = await keepReceiver(tmp.path);
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: receiver.port,
  });
  await conn.write(encodePreamble(2));
  const frames = framesAfterPreamble(await readToClose(conn));
  conn.close();
  const error = frames.find((f) => f.type === "error");
  assert.equal(error?.type === "error" && error.code, "version");
  await stop(receiver);
});

Deno.test("§2: receivers ignore the preamble's flags", () => {
  const preamble = encodePreamble();
  preamble.set([0xa5, 0x5a], 6); // flags no version-1 sender sets
  assert.equal(decodePreamble(preamble), 1);
  assert.deepEqual([...encodePreamble().subarray(6)], [0, 0], "senders send 0");
});

Deno.test("§7: a side that receives an error frame does not answer it with another", async () => {
  await using tmp = await tempDir();
  await using receiver = await keepReceiver(tmp.path);
  using stranger = await connectRaw(receiver.port);
  await stranger.send({ type: "error", code: "auth", message: "giving up" });
  const bytes = await readToClose(stranger.conn);
  const frames = framesAfterPreamble(bytes);
  assert.deepEqual(frames.map((f) => f.type), ["hello"]);
  await stop(receiver);
});

Deno.test("§7: an error code a side does not know is a failure, with the peer's words", () => {
  const error = errorFromPeer(
    "meteor-strike",
    "the disk caught fire",
    "Sender",
  );
  assert.equal(exitCodeOf(error), ExitCode.failure);
  assert.match(error.message, /Sender reported: the disk caught fire/);
});

Deno.test("§9.1: over UDP every file entry must have a known size: a size of null is a protocol error", async () => {
  await using tmp = await tempDir();
  await using receiver = await keepReceiver(tmp.path, "--udp");
  using peer = await connectAsSender(receiver.port);
  await peer.send({ type: "udp-request", datagramSize: 1472, lossy: false });
  await peer.send({
    type: "manifest",
    entries: [{ path: "stdin.bin", type: "file", size: null }],
    last: true,
  });
  const error = await refusal(peer);
  assert.equal(error.code, "protocol");
  assert.match(error.message, /needs every file's size/);
  await stop(receiver);
});

/** A slot's bytes in a plain session: the datagram less its header. */
const PLAIN_SLOT = 1472 - UDP_HEADER;

/**
 * A scripted UDP sender over loopback, plain: asks for `request` members,
 * sends the manifest of one file holding `body` (whole slots), and returns
 * the receiver's `udp` member and a way to send datagrams of its slots.
 */
async function scriptedUdpSender(
  tmp: string,
  body: Uint8Array,
  request: Record<string, unknown>,
) {
  const receiver = await keepReceiver(tmp, "--udp", "--insecure");
  const peer = await connectAsSender(receiver.port, { insecure: true });
  await peer.send({
    type: "udp-request",
    datagramSize: 1472,
    lossy: false,
    slotsPerDatagram: 11,
    ...request,
  });
  await peer.send({
    type: "manifest",
    entries: [{ path: "udp.bin", type: "file", size: body.length }],
    last: true,
  });
  const accept = await peer.next();
  assert.equal(accept.type, "accept");
  const udp = accept.type === "accept" ? accept.udp : undefined;
  assert.ok(udp, JSON.stringify(accept));
  const socket = Deno.listenDatagram({
    hostname: "127.0.0.1",
    port: 0,
    transport: "udp",
  });
  let sequence = 0;
  const P = PLAIN_SLOT;
  /** Sends slots `first` to `first + n - 1` in one datagram, to `port` (the main one unless told). */
  const send = async (first: number, n: number, port = receiver.port) => {
    const d = new Uint8Array(UDP_HEADER + n * P);
    writeHeader(d, {
      transfer: udp.transfer,
      index: 0,
      sequence: sequence++,
      offset: first * P,
      sentMicros: 0,
    });
    d.set(body.subarray(first * P, (first + n) * P), UDP_HEADER);
    await socket.send(d, { transport: "udp", hostname: "127.0.0.1", port });
  };
  return {
    receiver,
    peer,
    udp,
    send,
    async close() {
      socket.close();
      peer.conn.close();
      await stop(receiver);
    },
  };
}

Deno.test("§9.1: a receiver asked for lanes lists its other ports, takes datagrams on each, and counts each port's in its reports", async () => {
  await using tmp = await tempDir();
  const body = new Uint8Array(3 * PLAIN_SLOT).map((_, i) => (i * 13) & 0xff);
  const s = await scriptedUdpSender(tmp.path, body, { lanes: 4 });
  try {
    assert.equal(s.udp.ports?.length, 3, JSON.stringify(s.udp));
    // Slot 0 to the main port, slots 1 and 2 to the first two others.
    await s.send(0, 1);
    await s.send(1, 1, s.udp.ports![0]!);
    await s.send(2, 1, s.udp.ports![1]!);
    // Reports come about every 100 ms: wait (bounded) for one with all three.
    let lanes: number[] | undefined;
    for (let k = 0; k < 50 && lanes?.[1] !== 1; k++) {
      const m = await within(5_000, "a udp-report", s.peer.next());
      assert.equal(m.type, "udp-report");
      if (m.type === "udp-report") lanes = m.lanes;
    }
    assert.deepEqual(lanes, [1, 1, 0]);
    await s.peer.send({
      type: "udp-pass-end",
      index: 0,
      sent: 3,
      retransmittedBytes: 0,
      rate: 0,
    });
    let verdict = await s.peer.next();
    while (verdict.type === "udp-report") verdict = await s.peer.next();
    assert.deepEqual(verdict, {
      type: "udp-file-done",
      index: 0,
      complete: true,
    });
    const sha256 = createHash("sha256").update(body).digest("hex");
    await s.peer.send({
      type: "file-end",
      index: 0,
      size: body.length,
      sha256,
    });
    let ok = await s.peer.next();
    while (ok.type === "udp-report") ok = await s.peer.next();
    assert.deepEqual(ok, { type: "file-ok", index: 0, sha256 });
    assert.deepEqual(await Deno.readFile(join(tmp.path, "udp.bin")), body);
  } finally {
    await s.close();
  }
});

/** Frames the receiver sends in the next `reports` udp-reports' time (bounded). */
async function framesFor(peer: Peer, reports: number) {
  const seen: Awaited<ReturnType<Peer["next"]>>[] = [];
  for (let k = 0; k < reports;) {
    const m = await within(5_000, "a frame", peer.next());
    seen.push(m);
    if (m.type === "udp-report") k++;
  }
  return seen;
}

/** A hole at slot 5, then 2,000 slots after it: the receiver's frames meanwhile. */
async function earlyFrames(tmp: string, asked: boolean) {
  const s = await scriptedUdpSender(
    tmp,
    new Uint8Array(2200 * PLAIN_SLOT).fill(7),
    asked ? { earlyRepair: true } : {},
  );
  try {
    await s.send(0, 5);
    for (let first = 6; first < 2006; first += 10) {
      await s.send(first, 10);
      // Paced, so that the one socket's buffer does not overflow meanwhile.
      if (first % 100 === 6) await new Promise((r) => setTimeout(r, 2));
    }
    return (await framesFor(s.peer, 5)).filter((m) => m.type === "udp-missing");
  } finally {
    await s.close();
  }
}

Deno.test("§9.3: a receiver asks during the pass for a hole far behind, when the sender said earlyRepair", async () => {
  await using tmp = await tempDir();
  const early = await earlyFrames(tmp.path, true);
  assert.ok(early.length >= 1, "an early udp-missing");
  for (const m of early) assert.ok(m.type === "udp-missing" && m.early);
  // Slot 5 among the holes listed (others only if the host dropped some).
  assert.ok(
    early.some((m) =>
      m.type === "udp-missing" &&
      m.ranges.some(([first, count]) => first <= 5 && 5 < first + count)
    ),
    JSON.stringify(early),
  );
});

Deno.test("§9.3: a receiver never asks during the pass when the sender did not say earlyRepair", async () => {
  await using tmp = await tempDir();
  assert.deepEqual(await earlyFrames(tmp.path, false), []);
});

Deno.test("§9.3: a report without probes is a report; §9.5: statistics that are not finite numbers are dropped", () => {
  const read = (json: string) => decodeControl(new TextEncoder().encode(json));
  assert.deepEqual(read('{"type":"udp-report","received":9,"expected":10}'), {
    type: "udp-report",
    received: 9,
    expected: 10,
  });
  const done = read(
    '{"type":"done","files":1,"bytes":5,"udp":{"jitterMs":1e999,"duplicates":2,"complete":true,"note":"x"}}',
  );
  assert.deepEqual(done.type === "done" && done.udp, {
    duplicates: 2,
    complete: true,
  });
});

Deno.test("§5.1, plain: pasa as sender gives a scripted receiver the manifest, the body in chunks, an empty chunk and file-end, and exits 0 on file-ok and done", async () => {
  await using tmp = await tempDir();
  const bytes = new TextEncoder().encode("hola\n");
  const file = join(tmp.path, "hola.txt");
  await Deno.writeFile(file, bytes);
  using receiver = listenAsReceiver({ insecure: true });
  const sending = runPasa([
    "send",
    file,
    "--insecure",
    "--timeout",
    "10",
    "--to",
    `127.0.0.1:${receiver.port}`,
  ]);
  {
    using peer = await within(20_000, "the sender", receiver.accept());
    const manifest = await peer.next();
    assert.deepEqual(
      manifest.type === "manifest" &&
        manifest.entries.map((e) => [e.path, e.type, "size" in e && e.size]),
      [["hola.txt", "file", 5]],
    );
    assert.equal(manifest.type === "manifest" && manifest.last, true);
    await peer.send({ type: "accept", security: "none" });
    assert.deepEqual(await readBody(peer), bytes);
    const end = await peer.next();
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    assert.deepEqual(end, { type: "file-end", index: 0, size: 5, sha256 });
    await peer.send({ type: "file-ok", index: 0, sha256 });
    await peer.send({ type: "done", files: 1, bytes: 5 });
    const sent = await within(20_000, "the sender", sending);
    assert.equal(sent.code, 0, sent.stderr);
  }
});

Deno.test("§5.2, plain: pasa as receiver takes a scripted sender's file and answers accept none, file-ok and done", async () => {
  await using tmp = await tempDir();
  await using receiver = await keepReceiver(tmp.path, "--insecure");
  using peer = await connectAsSender(receiver.port, { insecure: true });
  await peer.send({
    type: "manifest",
    entries: [{ path: "hola.txt", type: "file", size: 5 }],
    last: true,
  });
  assert.deepEqual(await peer.next(), { type: "accept", security: "none" });
  const sha256 = await sendBody(peer, 0, new TextEncoder().encode("hola\n"));
  assert.deepEqual(await peer.next(), { type: "file-ok", index: 0, sha256 });
  assert.deepEqual(await peer.next(), { type: "done", files: 1, bytes: 5 });
  assert.equal(await Deno.readTextFile(join(tmp.path, "hola.txt")), "hola\n");
  await stop(receiver);
});

Deno.test("§5.1: the sender streams later files without waiting for earlier file-oks", async () => {
  await using tmp = await tempDir();
  const names = ["one.txt", "two.txt"];
  for (const name of names) {
    await Deno.writeTextFile(join(tmp.path, name), `${name}\n`);
  }
  using receiver = listenAsReceiver({ insecure: true });
  const sending = runPasa([
    "send",
    ...names.map((n) => join(tmp.path, n)),
    "--insecure",
    "--timeout",
    "20",
    "--to",
    `127.0.0.1:${receiver.port}`,
  ]);
  {
    using peer = await within(20_000, "the sender", receiver.accept());
    const manifest = await peer.next();
    assert.equal(manifest.type, "manifest");
    await peer.send({ type: "accept", security: "none" });
    const ends = [];
    // Both bodies and file-ends come before any file-ok is sent (a sender
    // that waited for the first file-ok would send nothing more: the
    // scripted receiver would wait here, and fail after ten seconds).
    for (const _ of names) {
      await within(
        10_000,
        "the next body, with no file-ok sent",
        readBody(peer),
      );
      ends.push(await within(10_000, "its file-end", peer.next()));
    }
    for (const [index, end] of ends.entries()) {
      assert.equal(end.type, "file-end");
      if (end.type !== "file-end") continue;
      await peer.send({ type: "file-ok", index, sha256: end.sha256 });
    }
    await peer.send({ type: "done", files: 2, bytes: 16 });
    assert.equal((await within(20_000, "the sender", sending)).code, 0);
  }
});

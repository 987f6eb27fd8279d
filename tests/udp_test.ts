import assert from "node:assert/strict";
import { join } from "node:path";
import {
  events,
  listTree,
  patterned,
  runPasa,
  type RunResult,
  sendTo,
  sha256File,
  slowUdpSendUnderWay,
  spawnPasa,
  startListening,
  tempDir,
  TESTFILES,
  within,
} from "./helpers.ts";
import {
  DATAGRAM_SIZE_LOOPBACK,
  SEALED_TAG,
  slotPayload,
  UDP_HEADER,
} from "../lib/udp.ts";
import { SLOTS_PER_DATAGRAM_LOOPBACK } from "../lib/udp_sizing.ts";
import { connectAsSender, listenAsReceiver, offer } from "./peer.ts";
import {
  type RelayCounts,
  startUdpRelay,
  type UdpDamage,
} from "./udp_relay.ts";

// Small datagrams, and a rate the in-test relay forwards without losses of its own
// (at 200M it already drops some): many datagrams to count, only the relay's drops.
const MEASURED = [
  "--udp",
  "--datagram-size",
  "1472",
  "--rate",
  "50M",
  "--json",
];

function summary(stdout: string): Record<string, unknown> {
  return events(stdout).find((e) => e.event === "summary") ?? {};
}

Deno.test("every fixture round-trips over UDP, verified", async () => {
  await using tmp = await tempDir();
  await using receiver = await startListening([
    "receive",
    "--udp",
    "--out",
    tmp.path,
  ]);
  const sent = await sendTo(receiver.port, TESTFILES, "--udp", "--json");
  assert.equal(sent.code, 0, sent.stderr);
  const received = await receiver.result();
  assert.equal(received.code, 0, received.stderr);
  assert.equal(
    events(received.stdout)[0]?.udp,
    true,
    "the listening event says UDP is served",
  );
  assert.deepEqual(
    await listTree(join(tmp.path, "testfiles")),
    await listTree(TESTFILES),
  );
  for (
    const name of [
      "chunk-plus-1.bin",
      "café con leche ñandú.txt",
      "nested/deeper/deepest/note.md",
    ]
  ) {
    assert.equal(
      await sha256File(join(tmp.path, "testfiles", name)),
      await sha256File(join(TESTFILES, name)),
    );
  }
  const udp = summary(sent.stdout).udp as Record<string, number>;
  assert.ok(
    udp.datagramsSent! > 0 && udp.datagramsReceived! > 0,
    JSON.stringify(udp),
  );
  for (const v of Object.values(udp)) {
    assert.ok(typeof v === "boolean" || Number.isFinite(v));
  }
  if (Deno.build.os === "linux") {
    assert.equal(
      typeof udp.kernelDrops,
      "number",
      "the receiver read its kernel's drop counter, with the task's --allow-run=cat",
    );
  }
});

/** What a transfer through the relay left behind. */
interface Relayed {
  sent: RunResult;
  received: RunResult;
  /** The sender's UDP statistics. */
  udp: Record<string, number | boolean>;
  /** Whether the received file equals the sent one. */
  same: boolean;
  /** What is in the receiver's output directory. */
  tree: string[];
  relay: RelayCounts;
}

/**
 * Sends a patterned file of `size` bytes through a relay applying `damage`
 * to a `receive --udp`, and returns what both sides said and left.
 */
async function throughRelay(
  size: number,
  damage: UdpDamage,
  ...flags: string[]
): Promise<Relayed> {
  await using tmp = await tempDir();
  const file = await patterned(tmp.path, "pattern.bin", size);
  const out = join(tmp.path, "out");
  // The relay forwards one port, as port forwarding does: no lanes.
  await using receiver = await startListening([
    "receive",
    "--udp",
    "--one-port",
    "--out",
    out,
  ]);
  await using relay = startUdpRelay(receiver.port, damage);
  const sent = await sendTo(relay.port, file, ...flags);
  const received = await receiver.result();
  const copy = join(out, "pattern.bin");
  const same = await sha256File(copy).then(
    async (sum) => sum === await sha256File(file),
    () => false,
  );
  return {
    sent,
    received,
    udp:
      (flags.includes("--json")
        ? summary(sent.stdout).udp ?? {}
        : {}) as Record<
          string,
          number | boolean
        >,
    same,
    tree: await listTree(out),
    relay: relay.counts,
  };
}

for (const drop of [0.05, 0.3]) {
  Deno.test(`with ${drop * 100}% of datagrams dropped, duplicated and reordered, the file arrives verified`, async () => {
    const r = await throughRelay(4 * 1024 * 1024, {
      seed: 7,
      drop,
      duplicate: 0.02,
      reorder: 0.02,
    }, ...MEASURED);
    assert.equal(r.sent.code, 0, r.sent.stderr);
    assert.equal(r.received.code, 0);
    assert.ok(r.same, "the received file equals the sent one");
    const firstPass = r.udp.firstPassLossPercent as number;
    assert.ok(
      Math.abs(firstPass - drop * 100) < 2.5,
      `first-pass loss ${firstPass}% for ${drop * 100}% dropped`,
    );
    assert.ok((r.udp.repairRounds as number) >= 1);
    assert.ok((r.udp.retransmittedBytes as number) > 0);
    assert.ok((r.udp.duplicates as number) > 0, "duplicates are counted");
    assert.ok((r.udp.outOfOrder as number) > 0, "reordering is counted");
  });
}

// Deciding takes a window of 100 probes and a test window (1,600
// datagrams, 40 MiB here); a fixed rate keeps the relay itself from
// dropping any.
const PATHS: [string, UdpDamage, boolean][] = [
  [
    "a path that loses large datagrams far more than small ones (fragments) gets one slot per datagram",
    { seed: 11, dropLarge: 0.25, drop: 0.01 },
    true,
  ],
  [
    "a path that loses datagrams of every size alike keeps large datagrams",
    { seed: 12, drop: 0.05 },
    false,
  ],
];
for (const [what, damage, fragmentsLost] of PATHS) {
  Deno.test(`${what}, and the file arrives`, async () => {
    const r = await within(
      60_000,
      what,
      throughRelay(
        64 * 1024 * 1024,
        damage,
        "--udp",
        "--rate",
        "400M",
        "--json",
      ),
    );
    assert.equal(r.sent.code, 0, r.sent.stderr);
    assert.ok(r.same, "the received file equals the sent one");
    assert.equal(r.udp.slotsPerDatagram, SLOTS_PER_DATAGRAM_LOOPBACK);
    assert.equal(r.udp.fragmentsLost, fragmentsLost, JSON.stringify(r.udp));
  });
}

Deno.test("the rate a UDP summary reports is what was really sent, not what the controller allowed", async () => {
  await using tmp = await tempDir();
  const file = await patterned(tmp.path, "pattern.bin", 64 * 1024 * 1024);
  await using receiver = await startListening([
    "receive",
    "--udp",
    "--out",
    join(tmp.path, "out"),
  ]);
  const sent = await sendTo(receiver.port, file, "--udp", "--json");
  assert.equal(sent.code, 0, sent.stderr);
  await within(20_000, "the receiver", receiver.result());
  const s = summary(sent.stdout);
  const udp = s.udp as Record<string, number>;
  // Every datagram's bytes over the whole transfer's time (pairing
  // included): the rate since the first datagram is somewhat above it,
  // never far (the controller's allowance was over twice it).
  // Datagrams carry several slots: count what they held, plus each one's
  // header and tag.
  const sentBits = ((s.bytes as number) + udp.retransmittedBytes! +
    udp.datagramsSent! * (UDP_HEADER + SEALED_TAG)) * 8;
  const ceiling = sentBits / (s.seconds as number);
  assert.ok(
    udp.rateBitsPerSecond! > 0 && udp.rateBitsPerSecond! <= ceiling * 1.6,
    `reported ${udp.rateBitsPerSecond} bit/s; sent ${
      ceiling.toFixed(0)
    } bit/s on average`,
  );
});

Deno.test("a short last slot lost on the first pass is repaired with exactly its own length", async () => {
  // 100,000 bytes in datagrams of exactly 32,808 bytes (one slot each):
  // three whole slots and a short one.
  const size = 100_000;
  const payload = slotPayload(DATAGRAM_SIZE_LOOPBACK, true);
  const last = size - Math.floor(size / payload) * payload;
  assert.ok(last > 0 && last < payload);
  const r = await within(
    60_000,
    "a transfer whose last slot must be repaired",
    throughRelay(
      size,
      { seed: 3, dropFirstShort: true },
      "--udp",
      "--datagram-size",
      String(DATAGRAM_SIZE_LOOPBACK),
      "--json",
      "--timeout",
      "10",
    ),
  );
  assert.equal(r.sent.code, 0, r.sent.stderr);
  assert.ok(r.same, "the received file equals the sent one");
  assert.equal(r.relay.dropped, 1, JSON.stringify([r.relay, r.udp]));
  assert.equal(r.udp.repairRounds, 1);
  assert.equal(r.udp.retransmittedBytes, last);
});

Deno.test("datagrams with flipped bits, replayed and reordered are refused, and the file still arrives verified", async () => {
  const r = await throughRelay(2 * 1024 * 1024, {
    seed: 11,
    flip: 0.05,
    duplicate: 0.05,
    reorder: 0.02,
  }, ...MEASURED);
  assert.equal(r.sent.code, 0, r.sent.stderr);
  assert.equal(r.received.code, 0, r.received.stderr);
  assert.ok(r.same, "the received file equals the sent one");
  assert.ok(r.relay.flipped > 0 && r.relay.duplicated > 0);
  // Flipped datagrams failed their tag and replays were refused (counted as
  // malformed and duplicates; late copies after the file ended go uncounted,
  // so no exact totals), and the file still verified.
  assert.ok((r.udp.malformed as number) > 0, "forged datagrams are refused");
  assert.ok((r.udp.duplicates as number) > 0, "replays are refused");
  assert.ok((r.udp.repairRounds as number) >= 1, "flipped slots repaired");
});

Deno.test("--lossy through a 10% lossy relay reports the loss, exits 3 and keeps nothing of the file", async () => {
  const r = await throughRelay(
    2 * 1024 * 1024,
    { seed: 3, drop: 0.1 },
    ...MEASURED,
    "--lossy",
  );
  assert.equal(r.sent.code, 3, r.sent.stderr);
  assert.equal(r.received.code, 3, r.received.stderr);
  assert.ok(
    Math.abs((r.udp.firstPassLossPercent as number) - 10) < 3,
    JSON.stringify(r.udp),
  );
  assert.equal(r.udp.repairRounds, 0);
  assert.equal(r.udp.complete, false);
  assert.deepEqual(summary(r.received.stdout).incomplete, ["pattern.bin"]);
  assert.deepEqual(r.tree, [], "a measurement leaves no .pasa.part");
});

Deno.test("a --lossy measurement does not resume a .part left in the receiver's folder: it sends the whole file", async () => {
  await using tmp = await tempDir();
  const size = 2 * 1024 * 1024;
  const file = await patterned(tmp.path, "pattern.bin", size);
  const out = join(tmp.path, "out");
  await Deno.mkdir(out);
  // Half of the file, as an earlier run would have left it.
  const half = (await Deno.readFile(file)).subarray(0, size / 2);
  await Deno.writeFile(join(out, "pattern.bin.pasa.part"), half);
  await using receiver = await startListening([
    "receive",
    "--udp",
    "--out",
    out,
  ]);
  const sent = await sendTo(
    receiver.port,
    file,
    ...["--udp", "--lossy", "--rate", "200M", "--json"],
  );
  await receiver.result();
  const said = events(sent.stdout);
  assert.equal(said.filter((e) => e.event === "resumed").length, 0);
  const end = said.find((e) => e.event === "summary")!;
  assert.equal(end.resumedBytes, 0, "nothing taken from the old part");
  assert.ok(
    !(await listTree(out)).includes("pattern.bin.pasa.part"),
    "no part left behind",
  );
});

Deno.test("--lossy measures with datagrams of one slot, the loss of packets", async () => {
  const r = await throughRelay(
    2 * 1024 * 1024,
    { seed: 4, drop: 0.05 },
    "--udp",
    "--rate",
    "50M",
    "--json",
    "--lossy",
  );
  assert.equal(r.udp.slotsPerDatagram, 1, JSON.stringify(r.udp));
  assert.equal(r.udp.datagramSize, 1472);
});

Deno.test("the human summary of a --lossy run says plainly that the file is incomplete", async () => {
  const r = await throughRelay(
    1024 * 1024,
    { seed: 5, drop: 0.2 },
    "--udp",
    "--datagram-size",
    "1472",
    "--rate",
    "50M",
    "--lossy",
  );
  assert.equal(r.sent.code, 3);
  assert.match(
    r.sent.stdout,
    /INCOMPLETE: --lossy made one pass and lost \d+\.\d\d% of the data/,
  );
  assert.match(r.sent.stdout, /first-pass loss \d+\.\d\d%/);
});

Deno.test("malformed datagrams are counted and ignored, and the transfer completes", async () => {
  await using tmp = await tempDir();
  const file = await patterned(tmp.path, "pattern.bin", 1024 * 1024);
  const out = join(tmp.path, "out");
  await using receiver = await startListening([
    "receive",
    "--udp",
    "--out",
    out,
  ]);
  // Strays before the transfer: short, wrong version, unknown transfer id.
  const stray = Deno.listenDatagram({
    hostname: "127.0.0.1",
    port: 0,
    transport: "udp",
  });
  const to: Deno.NetAddr = {
    transport: "udp",
    hostname: "127.0.0.1",
    port: receiver.port,
  };
  await stray.send(new Uint8Array(5), to);
  await stray.send(new Uint8Array(100).fill(9), to);
  const unknownId = new Uint8Array(60);
  unknownId.set([1, 0x44, 0, 40, 0xde, 0xad, 0xbe, 0xef]);
  await stray.send(unknownId, to);
  stray.close();
  // And, during it, datagrams with the real id: offset beyond the file, a later file, bad version...
  await using relay = startUdpRelay(receiver.port, { seed: 1, inject: true });
  const sent = await sendTo(relay.port, file, ...MEASURED);
  assert.equal(sent.code, 0, sent.stderr);
  assert.equal((await receiver.result()).code, 0);
  assert.equal(
    await sha256File(join(out, "pattern.bin")),
    await sha256File(file),
  );
  const udp = summary(sent.stdout).udp as Record<string, number>;
  assert.equal(relay.counts.injected, 5);
  // The strays came before this transfer began: they are not its own.
  assert.equal(udp.malformed, 5);
});

Deno.test("on a --keep receiver each transfer counts only its own datagrams", async () => {
  await using tmp = await tempDir();
  const file = await patterned(tmp.path, "pattern.bin", 512 * 1024);
  await using receiver = await startListening([
    "receive",
    "--keep",
    "--udp",
    "--force",
    "--out",
    join(tmp.path, "out"),
  ]);
  const strays = async (n: number) => {
    const stray = Deno.listenDatagram({
      hostname: "127.0.0.1",
      port: 0,
      transport: "udp",
    });
    for (let i = 0; i < n; i++) {
      await stray.send(new Uint8Array(7), {
        transport: "udp",
        hostname: "127.0.0.1",
        port: receiver.port,
      });
    }
    stray.close();
  };
  const figures = [];
  for (let round = 0; round < 2; round++) {
    await strays(50);
    const sent = await sendTo(receiver.port, file, ...MEASURED);
    assert.equal(sent.code, 0, sent.stderr);
    figures.push(summary(sent.stdout).udp as Record<string, number>);
  }
  receiver.kill();
  const said = events((await receiver.result()).stdout)
    .filter((e) => e.event === "summary")
    .map((e) => (e.udp as Record<string, number>).malformed);
  assert.deepEqual(figures.map((u) => u.malformed), [0, 0]);
  assert.deepEqual(said, [0, 0]);
  assert.ok(
    figures.every((u) => u.datagramsReceived! <= u.datagramsSent!),
    "never more received than sent",
  );
});

Deno.test("when UDP is blocked but TCP gets through, both sides fail fast and say so", async () => {
  const r = await throughRelay(256 * 1024, { seed: 2, drop: 1 }, ...MEASURED);
  assert.equal(r.sent.code, 1);
  assert.match(
    r.sent.stderr,
    /No UDP datagram arrived in two passes: is the UDP port blocked by a firewall\?/,
  );
  assert.equal(r.received.code, 1);
  assert.deepEqual(r.tree, []);
  assert.ok(r.relay.dropped > 0);
});

Deno.test("UDP mode works over IPv6 loopback too", async () => {
  await using tmp = await tempDir();
  await using receiver = await startListening([
    "receive",
    "--udp",
    "--out",
    tmp.path,
  ]);
  const file = join(TESTFILES, "chunk-plus-1.bin");
  const sent = await runPasa([
    "send",
    file,
    "--udp",
    "--to",
    `[::1]:${receiver.port}`,
  ]);
  assert.equal(sent.code, 0, sent.stderr);
  assert.equal((await receiver.result()).code, 0);
  assert.equal(
    await sha256File(join(tmp.path, "chunk-plus-1.bin")),
    await sha256File(file),
  );
});

Deno.test("a TCP-only receiver refuses a UDP sender with exit 4 and says how to fix it", async () => {
  await using tmp = await tempDir();
  await using receiver = await startListening(["receive", "--out", tmp.path]);
  const sent = await sendTo(
    receiver.port,
    join(TESTFILES, "one-byte.bin"),
    "--udp",
  );
  assert.equal(sent.code, 4);
  assert.match(sent.stderr, /takes TCP only \(run pasa receive --udp\)/);
  assert.equal((await receiver.result()).code, 4);
});

Deno.test("receive --keep serves a TCP and a UDP sender at once", async () => {
  await using tmp = await tempDir();
  await using receiver = await startListening([
    "receive",
    "--keep",
    "--udp",
    "--out",
    tmp.path,
  ]);
  const [tcp, udp] = await Promise.all([
    sendTo(receiver.port, join(TESTFILES, "chunk-exact.bin")),
    sendTo(receiver.port, join(TESTFILES, "chunk-minus-1.bin"), "--udp"),
  ]);
  assert.equal(tcp.code, 0, tcp.stderr);
  assert.equal(udp.code, 0, udp.stderr);
  assert.match(udp.stdout, /over UDP/);
  receiver.kill();
  await receiver.result();
  assert.deepEqual(await listTree(tmp.path), [
    "chunk-exact.bin",
    "chunk-minus-1.bin",
  ]);
});

Deno.test({
  name:
    "a UDP sender that freezes mid-pass is timed out by the receiver: nothing under the final name",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    await using tmp = await tempDir();
    const file = await patterned(tmp.path, "pattern.bin", 8 * 1024 * 1024);
    const out = join(tmp.path, "out");
    await using receiver = await startListening([
      "receive",
      "--udp",
      "--timeout",
      "1",
      "--out",
      out,
    ]);
    // Slow enough (8 MiB at 2 Mbit/s) that the sender is surely mid-pass when frozen.
    const child = spawnPasa([
      "send",
      file,
      "--udp",
      "--rate",
      "2M",
      "--json",
      "--to",
      `127.0.0.1:${receiver.port}`,
    ]);
    const reader = child.stdout.getReader();
    let text = "";
    while (!text.includes('"manifest"')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    child.kill("SIGSTOP"); // the process stops, its TCP connection stays open
    // Bounded: a receiver that never times out fails the test instead of hanging it.
    const guard = setTimeout(() => receiver.kill("SIGKILL"), 20_000);
    const received = await receiver.result();
    clearTimeout(guard);
    child.kill("SIGKILL");
    reader.releaseLock();
    await child.stdout.cancel();
    await child.stderr.cancel();
    await child.status;
    assert.equal(received.code, 1, received.stderr);
    assert.match(received.stderr, /timed out: no data for 1 s/);
    // At most the contiguous prefix, kept for resuming; never the file itself.
    const left = await listTree(out);
    assert.ok(
      left.every((n) => n === "pattern.bin.pasa.part"),
      `left behind: ${left}`,
    );
  },
});

Deno.test("Ctrl-C stops a UDP sender mid-pass at once, and the receiver keeps what arrived", async () => {
  await using tmp = await tempDir();
  const file = await patterned(tmp.path, "pattern.bin", 64 * 1024 * 1024);
  const out = join(tmp.path, "out");
  const part = join(out, "pattern.bin.pasa.part");
  await using receiver = await startListening([
    "receive",
    "--udp",
    "--out",
    out,
  ]);
  // 64 MiB at 20 Mbit/s would take 27 s: long enough to be cut mid-pass.
  const sender = await slowUdpSendUnderWay(file, receiver.port, part, 1e6);
  sender.kill("SIGINT");
  // Bounded well under the 20 s the rest of the pass would take.
  const stopped = await within(
    5_000,
    "the interrupted sender",
    sender.output(),
  );
  assert.equal(stopped.code, 130, new TextDecoder().decode(stopped.stderr));
  const received = await within(20_000, "the receiver", receiver.result());
  assert.equal(received.code, 1, received.stderr);
  const size = (await Deno.stat(part)).size;
  assert.ok(size > 0, "what arrived is kept");
  // Both sides say how far it got.
  assert.match(
    new TextDecoder().decode(stopped.stdout) +
      new TextDecoder().decode(stopped.stderr),
    /Stopped after sending [\d.]+ [KM]iB of 64\.0 MiB of pattern\.bin/,
  );
  const kept = events(received.stdout).find((e) => e.event === "kept");
  assert.deepEqual(kept, {
    event: "kept",
    name: "pattern.bin",
    bytes: size,
    size: 64 * 1024 * 1024,
  });
  // The sender said why it stopped, and the receiver says it plainly.
  const why = events(received.stdout).find((e) => e.event === "error");
  assert.equal(why?.code, "interrupted");
  assert.match(received.stderr, /The sender was interrupted/);
});

Deno.test("a UDP sender stops within moments of its receiver's connection ending, not at the end of its pass, and says the receiver went away", async () => {
  await using tmp = await tempDir();
  // 48 MiB at 20 Mbit/s: a pass of 20 s.
  const file = await patterned(tmp.path, "long.bin", 48 * 1024 * 1024);
  const out = join(tmp.path, "out");
  await using receiver = await startListening([
    "receive",
    "--udp",
    "--out",
    out,
  ]);
  const sender = await slowUdpSendUnderWay(
    file,
    receiver.port,
    join(out, "long.bin.pasa.part"),
    1024 * 1024,
  );
  receiver.kill("SIGKILL");
  await receiver.result();
  const ended = await within(
    5_000,
    "the sender to stop after its receiver died",
    sender.output(),
  );
  assert.equal(ended.code, 1);
  assert.match(
    new TextDecoder().decode(ended.stderr),
    /receiver .*(went away|closed)/i,
  );
});

Deno.test("a group's sender stops within moments when its only receiver's connection ends", async () => {
  await using tmp = await tempDir();
  const file = await patterned(tmp.path, "long.bin", 48 * 1024 * 1024);
  const out = join(tmp.path, "out");
  await using sender = await startListening([
    ...["send", file, "--listen", "--receivers", "1", "--no-multicast"],
    ...["--rate", "20M"],
  ]);
  const receiver = spawnPasa([
    ...["receive", "--from", `127.0.0.1:${sender.port}`, "--out", out],
  ]);
  const part = join(out, "long.bin.pasa.part");
  const deadline = performance.now() + 20_000;
  while ((await Deno.stat(part).then((i) => i.size, () => 0)) < 1024 * 1024) {
    assert.ok(performance.now() < deadline, "the group got under way");
    await new Promise((r) => setTimeout(r, 5));
  }
  receiver.kill("SIGKILL");
  await receiver.output();
  const ended = await within(
    5_000,
    "the group's sender to stop after its receiver died",
    sender.result(),
  );
  assert.equal(ended.code, 1);
});

Deno.test("§9.4: to a --lossy request the receiver offers no part to resume, only a file already whole under its name", async () => {
  await using tmp = await tempDir();
  await Deno.writeFile(
    join(tmp.path, "half.bin.pasa.part"),
    new Uint8Array(4096).fill(9),
  );
  await Deno.writeFile(
    join(tmp.path, "whole.bin"),
    new Uint8Array(100).fill(7),
  );
  await using receiver = await startListening([
    "receive",
    "--udp",
    "--out",
    tmp.path,
  ]);
  using peer = await connectAsSender(receiver.port);
  await peer.send({ type: "udp-request", datagramSize: 1472, lossy: true });
  const accept = await offer(peer, [
    { path: "half.bin", type: "file", size: 100_000 },
    { path: "whole.bin", type: "file", size: 100 },
  ]);
  assert.equal(accept.type, "accept");
  assert.equal(accept.type === "accept" && accept.offers, 1);
  const only = await peer.next();
  assert.deepEqual(
    only.type === "resume-offer" && [only.index, only.offset],
    [1, 100],
  );
  peer.conn.close();
  await receiver.result();
});

Deno.test("§9.4: a --lossy sender claims a part the receiver offers at 0: a measurement resumes nothing", async () => {
  await using tmp = await tempDir();
  const file = await patterned(tmp.path, "m.bin", 100_000);
  using receiver = listenAsReceiver();
  const sending = runPasa([
    ...["send", file, "--udp", "--lossy", "--timeout", "10"],
    ...["--to", `127.0.0.1:${receiver.port}`],
  ]);
  {
    using peer = await within(20_000, "the sender", receiver.accept());
    for (let i = 0; i < 5; i++) {
      const m = await within(10_000, "the manifest", peer.next());
      if (m.type === "manifest") break;
    }
    await peer.send({
      type: "accept",
      security: "spake2-p256-chacha20poly1305",
      udp: { transfer: 1 },
      offers: 1,
    });
    // Two whole slots of a sealed 1,472-byte datagram: a part it could resume.
    const offset = 2 * slotPayload(1472, true);
    await peer.send({ type: "resume-offer", index: 0, offset });
    const claim = await within(10_000, "the claim", peer.next());
    assert.deepEqual(
      claim.type === "resume-claim" && [claim.index, claim.offset],
      [0, 0],
    );
  }
  await within(20_000, "the sender to end", sending);
});

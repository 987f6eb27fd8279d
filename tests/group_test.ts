/**
 * One sender, many receivers: the pure parts (lib/group.ts), the messages
 * that carry a group, and the command over loopback, each receiver served
 * by unicast (`--no-multicast`; multicast itself is tried on the lab, in
 * tests/group_lab_test.ts).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  GROUP_NONCE_PREFIX,
  groupAddress,
  groupKey,
  groupKeyFrom,
  SkippedSequences,
  SlowWatch,
  splitRepairs,
  unionRanges,
  withoutRanges,
} from "../lib/group.ts";
import { type DatagramHeader, readHeader } from "../lib/udp.ts";
import { UdpGroup } from "../lib/group_send.ts";
import { renderGroupSummary, Reporter } from "../lib/report.ts";
import type { Seat } from "../lib/group_seat.ts";
import { parseMessage } from "../lib/messages.ts";
import type { Message } from "../lib/protocol.ts";
import { FrameReader, writeControl } from "../lib/frames.ts";
import { Link } from "../lib/link.ts";
import { handshake } from "../lib/session.ts";
import {
  events,
  listTree,
  onTerminal,
  runPasa,
  sha256File,
  spawnPasa,
  startListening,
  tempDir,
  TEST_CODE,
  within,
} from "./helpers.ts";

Deno.test("unionRanges() merges every receiver's missing slots into one sorted list", () => {
  assert.deepEqual(
    unionRanges([
      [[10, 5], [100, 1]],
      [[12, 6], [50, 2]],
      [[0, 1], [18, 2], [101, 0]],
    ]),
    [[0, 1], [10, 10], [50, 2], [100, 1]],
  );
  assert.deepEqual(unionRanges([]), []);
  assert.deepEqual(unionRanges([[[3, 2]], [[5, 1]]]), [[3, 3]]);
});

Deno.test("splitRepairs() sends a slot several receivers lack to the group, and one that one receiver lacks to it alone", () => {
  const lists = [
    { ranges: [[0, 10]] as [number, number][], alone: true },
    { ranges: [[5, 10]] as [number, number][], alone: true },
    { ranges: [[30, 2]] as [number, number][], alone: true },
  ];
  assert.deepEqual(splitRepairs(lists, 2), {
    shared: [[5, 5]],
    own: [[[0, 5]], [[10, 5]], [[30, 2]]],
  });
  // 1: everything to the group, as one union; Infinity: everything alone.
  assert.deepEqual(splitRepairs(lists, 1).shared, [[0, 15], [30, 2]]);
  assert.deepEqual(splitRepairs(lists, 1).own, [[], [], []]);
  assert.deepEqual(splitRepairs(lists, Infinity).shared, []);
  assert.deepEqual(
    splitRepairs(lists, Infinity).own,
    lists.map((l) => l.ranges),
  );
});

Deno.test("splitRepairs() sends every slot of a receiver that has no address of its own to the group", () => {
  const split = splitRepairs([
    { ranges: [[0, 10]], alone: true },
    { ranges: [[5, 10]], alone: false },
  ], 2);
  assert.deepEqual(split, { shared: [[5, 10]], own: [[[0, 5]], []] });
  assert.deepEqual(splitRepairs([], 2), { shared: [], own: [] });
});

Deno.test("withoutRanges() keeps the slots outside the ranges taken away", () => {
  assert.deepEqual(
    withoutRanges([[0, 10], [20, 5]], [[2, 3], [8, 14]]),
    [[0, 2], [5, 3], [22, 3]],
  );
  assert.deepEqual(withoutRanges([[0, 4]], []), [[0, 4]]);
  assert.deepEqual(withoutRanges([[0, 4]], [[0, 4]]), []);
});

Deno.test("SkippedSequences counts the numbers under a report that went to others alone", () => {
  const skipped = new SkippedSequences();
  skipped.skip(100, 110);
  skipped.skip(120, 125);
  skipped.skip(130, 130); // empty: nothing
  assert.equal(skipped.total, 15);
  assert.equal(skipped.under(50), 0);
  assert.equal(skipped.under(105), 5);
  assert.equal(skipped.under(121), 11);
  assert.equal(skipped.under(200), 15);
  skipped.skip(300, 310);
  assert.equal(skipped.under(305), 20);
  assert.equal(skipped.total, 25);
});

/** A group in this process, by unicast, plain, that sends nothing until a file is handed to it. */
function unicastGroup(more: { acceptGraceMs?: number } = {}): UdpGroup {
  return new UdpGroup({
    port: 9,
    datagramSize: 1472,
    slotsPerDatagram: 1,
    initialRate: 100e6,
    sealed: false,
    multicast: false,
    ...more,
  });
}

Deno.test("a receiver's controller does not count repairs sent to other receivers alone as its loss", () => {
  const group = unicastGroup();
  try {
    const seats = ["a", "b"].map((name) => {
      const seat = group.seat(name);
      seat.join(
        {} as Link,
        "127.0.0.1",
        { transfer: group.transfer, port: 9 },
        { datagramSize: 1472, slotsPerDatagram: 1 },
      );
      seat.onReply({ type: "udp-report", received: 1000, expected: 1000 });
      return seat;
    });
    const [a, b] = seats as [Seat, Seat];
    // 500 datagrams went to b alone; a got all of its own.
    a.skipped.skip(1000, 1500);
    a.onReply({ type: "udp-report", received: 2000, expected: 2500 });
    assert.ok(a.rate.rate >= 100e6, `a lost nothing: ${a.rate.rate}`);
    // b lost 500 of its own: that is loss.
    b.onReply({ type: "udp-report", received: 2000, expected: 2500 });
    assert.ok(b.rate.rate < 100e6, `b backs off: ${b.rate.rate}`);
  } finally {
    group.close();
  }
});

Deno.test("the group's last line claims a rate only for receivers that got everything", () => {
  const base = {
    receivers: 3,
    files: 1,
    bytes: 256 * 2 ** 20,
    seconds: 2.26,
    datagrams: 9000,
    multicast: true,
    encrypted: true,
    alreadyThere: 0,
  };
  const none = renderGroupSummary({ ...base, verified: 0, delivered: 0 });
  assert.match(none, /^Delivered to none of 3 receivers \(1 file, 256 MiB\)/);
  assert.doesNotMatch(none, /MB\/s/);
  const some = renderGroupSummary({
    ...base,
    verified: 2,
    delivered: 2 * base.bytes,
  });
  assert.match(some, /^Sent only partly: 1 file, 256 MiB, to 2 of 3 receivers/);
  assert.match(some, /MB\/s to each, [\d.]+ MB\/s in all/);
});

Deno.test("the group's last line gives a rate over what was sent, not over what the receivers already had", () => {
  const base = {
    receivers: 3,
    verified: 3,
    files: 40,
    bytes: 100_000_000,
    seconds: 2,
    datagrams: 9000,
    multicast: true,
    encrypted: true,
  };
  const some = renderGroupSummary({
    ...base,
    alreadyThere: 250_000_000,
    delivered: 50_000_000,
  });
  assert.match(
    some,
    /to 3 of 3 receivers in 2\.00 s \(238 MiB already there, 47\.7 MiB sent, 25\.0 MB\/s in all\)/,
  );
  assert.doesNotMatch(some, /to each/);
  const all = renderGroupSummary({
    ...base,
    alreadyThere: 300_000_000,
    delivered: 0,
  });
  assert.match(all, /\(all of it already there, nothing sent\)/);
  assert.doesNotMatch(all, /MB\/s/);
});

Deno.test("a group's receiver that keeps part of a file is told that a send to it alone resumes it", () => {
  let text = "";
  const say = new Reporter({ out: (t) => text += t, err: () => {} });
  say.kept("f256", 139 * 2 ** 20, 256 * 2 ** 20, true);
  assert.match(text, /a pasa send to this receiver alone \(not to a group\)/);
  text = "";
  say.kept("f256", 139 * 2 ** 20, 256 * 2 ** 20);
  assert.match(text, /the same pasa send resumes it/);
});

Deno.test("a receiver that paired but does not accept within the grace time is put out, told why, and the group goes on with those that did", async () => {
  const group = unicastGroup({ acceptGraceMs: 100 });
  // A connection that keeps what is written to it and has nothing to read.
  const written: Uint8Array[] = [];
  const link = {
    timedOut: false,
    write: (
      p: Uint8Array,
    ) => (written.push(p.slice()), Promise.resolve(p.length)),
    closeWrite: () => Promise.resolve(),
    read: () => Promise.resolve(null),
    close: () => {},
  } as unknown as Link;
  try {
    const asking = group.seat("asking", link);
    const ready = group.seat("ready", link);
    ready.join(
      link,
      "127.0.0.1",
      { transfer: group.transfer, port: 9 },
      { datagramSize: 1472, slotsPerDatagram: 1 },
    );
    await within(
      5_000,
      "the grace time",
      (async () => {
        while (asking.status !== "gone") {
          await new Promise((r) => setTimeout(r, 20));
        }
      })(),
    );
    assert.equal(asking.dropped, true);
    assert.match(
      (asking.why as Error).message,
      /did not accept the transfer within 0\.1 s of the first receiver/,
    );
    assert.equal(ready.status, "in");
    const told = new TextDecoder().decode(written.at(-1)!);
    assert.match(told, /"code":"dropped"/);
  } finally {
    group.close();
  }
});

Deno.test("groupKey() is 32 bytes with the group's own nonce prefix, and survives base64", () => {
  const k = groupKey();
  assert.equal(k.key.length, 32);
  assert.deepEqual(k.prefix, GROUP_NONCE_PREFIX);
  assert.deepEqual(groupKeyFrom(k.base64).key, k.key);
  assert.throws(() => groupKey(new Uint8Array(16)), RangeError);
  assert.notDeepEqual(groupKey().key, k.key);
});

Deno.test("groupAddress() picks from 239.255.0.0/16, never .0 or .255", () => {
  assert.equal(groupAddress(new Uint8Array([0, 253])), "239.255.1.254");
  assert.equal(groupAddress(new Uint8Array([253, 255])), "239.255.254.2");
  for (let i = 0; i < 50; i++) {
    assert.match(
      groupAddress(),
      /^239\.255\.([1-9]\d?|1\d\d|2[0-4]\d|25[0-4])\.([1-9]\d?|1\d\d|2[0-4]\d|25[0-4])$/,
    );
  }
});

/** The rule the SlowWatch tests read against: 3 s of grace, 5 s of silence, a quarter. */
const RULE = { floor: 0, share: 0.25, graceMs: 3000, silentMs: 5000 };

Deno.test("SlowWatch drops a receiver under a quarter of the best the group carried, only after its grace time", () => {
  const watch = new SlowWatch(RULE);
  const paces = (slow: number, now: number) =>
    new Map([
      ["fast", { rate: 900e6, heardAt: now }],
      ["slow", { rate: slow, heardAt: now }],
    ]);
  assert.deepEqual(watch.update(0, paces(100e6, 0), 900e6), []);
  assert.deepEqual(watch.update(2999, paces(100e6, 2999), 900e6), []);
  assert.deepEqual(watch.update(3000, paces(100e6, 3000), 900e6), [
    { name: "slow", why: "slow" },
  ]);
});

Deno.test("SlowWatch forgives a receiver that recovers before its grace time, and starts counting again", () => {
  const watch = new SlowWatch(RULE);
  const at = (rate: number, now: number) =>
    new Map([["a", { rate: 900e6, heardAt: now }], ["b", {
      rate,
      heardAt: now,
    }]]);
  watch.update(0, at(100e6, 0), 900e6);
  watch.update(2000, at(500e6, 2000), 900e6);
  assert.deepEqual(watch.update(4000, at(100e6, 4000), 900e6), []);
  assert.deepEqual(watch.update(7000, at(100e6, 7000), 900e6).length, 1);
});

Deno.test("SlowWatch never drops a lone receiver for being slow, unless under the floor", () => {
  const alone = new Map([["only", { rate: 1e6, heardAt: 0 }]]);
  const relative = new SlowWatch({ ...RULE, silentMs: 60_000 });
  relative.update(0, alone, 900e6);
  assert.deepEqual(relative.update(10_000, alone, 900e6), []);
  const floored = new SlowWatch({ ...RULE, floor: 50e6, silentMs: 60_000 });
  floored.update(0, alone, 900e6);
  assert.deepEqual(floored.update(3000, alone, 900e6), [{
    name: "only",
    why: "slow",
  }]);
});

Deno.test("SlowWatch names a receiver that sent no report for the silent time, however fast it was", () => {
  const watch = new SlowWatch(RULE);
  const members = new Map([
    ["quiet", { rate: 900e6, heardAt: 0 }],
    ["talks", { rate: 900e6, heardAt: 5000 }],
  ]);
  assert.deepEqual(watch.update(5000, members, 900e6), [{
    name: "quiet",
    why: "silent",
  }]);
});

Deno.test("udp-request carries a group: a multicast address, a port, a transfer id and a 32-byte key", () => {
  const ok = {
    type: "udp-request",
    datagramSize: 1472,
    lossy: false,
    slotsPerDatagram: 11,
    group: {
      address: "239.255.12.34",
      port: 9000,
      transfer: 7,
      key: groupKey().base64,
    },
  };
  assert.deepEqual(parseMessage(ok), { message: ok });
  for (
    const [group, member] of [
      [{ ...ok.group, address: "10.0.0.1" }, "address"],
      [{ ...ok.group, address: "239.255.300.1" }, "address"],
      [{ ...ok.group, port: 0 }, "port"],
      [{ ...ok.group, transfer: 0 }, "transfer"],
      [{ ...ok.group, key: "c2hvcnQ=" }, "key"],
    ] as const
  ) {
    const parsed = parseMessage({ ...ok, group });
    assert.ok("why" in parsed);
    assert.match(parsed.why, new RegExp(member));
  }
  const wait = { type: "wait", joined: 1, receivers: 3 };
  assert.deepEqual(parseMessage(wait), { message: wait });
});

/** `pasa send PATH --listen --receivers N --no-multicast`, waiting on a free port. */
function groupSender(path: string, receivers: number) {
  return startListening([
    "send",
    path,
    "--listen",
    "--receivers",
    String(receivers),
    "--no-multicast",
  ]);
}

/** `pasa receive --from 127.0.0.1:PORT` into `out`, with more flags. */
function receiveFrom(port: number, out: string, ...flags: string[]) {
  return runPasa([
    "receive",
    "--from",
    `127.0.0.1:${port}`,
    "--out",
    out,
    "--json",
    ...flags,
  ]);
}

Deno.test("send --listen --receivers 2 --no-multicast: both receivers get the folder, verified, and the sender lists each", async () => {
  await using tmp = await tempDir();
  const src = join(tmp.path, "lab");
  await Deno.mkdir(join(src, "sub"), { recursive: true });
  const big = new Uint8Array(3_000_000).map((_, i) => (i * 7919) & 255);
  await Deno.writeFile(join(src, "big.bin"), big);
  await Deno.writeTextFile(join(src, "sub", "note.txt"), "for everyone\n");
  await Deno.writeFile(join(src, "empty"), new Uint8Array());
  await using sender = await groupSender(src, 2);
  const outs = [join(tmp.path, "one"), join(tmp.path, "two")];
  const received = await within(
    60_000,
    "two receivers",
    Promise.all(outs.map((out) => receiveFrom(sender.port, out))),
  );
  const sent = await within(30_000, "the sender", sender.result());
  assert.equal(sent.code, 0, sent.stderr);
  for (const r of received) assert.equal(r.code, 0, r.stderr);
  for (const out of outs) {
    assert.deepEqual(await listTree(join(out, "lab")), await listTree(src));
    assert.equal(
      await sha256File(join(out, "lab", "big.bin")),
      await sha256File(join(src, "big.bin")),
    );
  }
  const said = events(sent.stdout);
  assert.equal(said.filter((e) => e.event === "joined").length, 2);
  assert.equal(said.find((e) => e.event === "group-start")?.multicast, false);
  const each = said.filter((e) => e.event === "receiver");
  assert.deepEqual(each.map((e) => e.ok), [true, true]);
  for (const e of each) {
    // Each receiver's own figures: its goodput and the loss of its first pass.
    assert.equal(typeof e.firstPassLossPercent, "number");
    assert.ok((e.bytesPerSecond as number) > 0);
    assert.equal(e.bytes, 3_000_000 + 13);
  }
  const end = said.find((e) => e.event === "group-summary")!;
  assert.equal(end.verified, 2);
  assert.equal(end.files, 3);
  assert.equal(end.bytes, 3_000_000 + 13);
  // The first receiver heard that it waited for the second.
  assert.ok(
    events(received[0]!.stdout).some((e) =>
      e.event === "group-wait" && e.receivers === 2
    ),
  );
});

Deno.test("a receiver with a wrong code is told and let go; the group starts with the receivers that paired", async () => {
  await using tmp = await tempDir();
  const file = join(tmp.path, "exam.txt");
  await Deno.writeTextFile(file, "question one\n");
  await using sender = await groupSender(file, 1);
  const wrong = await within(
    30_000,
    "a guesser",
    receiveFrom(
      sender.port,
      join(tmp.path, "wrong"),
      "--code",
      "42-wrong-words",
    ),
  );
  assert.equal(wrong.code, 5, wrong.stderr);
  const right = await within(
    30_000,
    "the receiver",
    receiveFrom(sender.port, join(tmp.path, "right")),
  );
  assert.equal(right.code, 0, right.stderr);
  const sent = await within(30_000, "the sender", sender.result());
  assert.equal(sent.code, 0, sent.stderr);
  assert.match(sent.stdout + sent.stderr, /did not join: Wrong code/);
  assert.equal(
    await Deno.readTextFile(join(tmp.path, "right", "exam.txt")),
    "question one\n",
  );
});

Deno.test("--receivers needs --listen, and --wait goes with --receivers (usage errors, exit 2)", async () => {
  const a = await runPasa([
    "send",
    "x",
    "--receivers",
    "3",
    "--to",
    "127.0.0.1:9",
  ]);
  assert.equal(a.code, 2);
  assert.match(a.stderr, /--receivers waits for them: give --listen too/);
  const b = await runPasa(["send", "x", "--listen", "--wait", "5"]);
  assert.equal(b.code, 2);
  assert.match(
    b.stderr,
    /--wait, --no-multicast and --min-rate go with --receivers/,
  );
  const c = await runPasa(["send", "x", "--listen", "--receivers", "65"]);
  assert.equal(c.code, 2);
  assert.match(c.stderr, /--receivers/);
});

/**
 * A scripted sender waiting on a free port: the receiver `pasa receive
 * --from` it connects, pairs (or not, `insecure`), and gets `script`.
 * Returns the receiver's result and its answer (`accept` or `error`).
 */
async function scriptedGroupSender(
  receiveFlags: string[],
  insecure: boolean,
  script: (send: (m: Message) => Promise<void>) => Promise<void>,
) {
  await using tmp = await tempDir();
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const receiving = runPasa([
    "receive",
    "--from",
    `127.0.0.1:${port}`,
    ...(receiveFlags.includes("--stdout")
      ? []
      : ["--out", join(tmp.path, "out")]),
    ...(insecure ? ["--insecure"] : []),
    ...receiveFlags,
  ]);
  const conn = await within(
    10_000,
    "the receiver to connect",
    listener.accept(),
  );
  const link = new Link(conn, {
    timeoutMs: 0,
    ...(insecure ? {} : { pairing: { code: TEST_CODE, initiator: false } }),
  });
  const reader = new FrameReader(link);
  await handshake(link, reader, "sender");
  await script((m) => writeControl(link, m));
  let answer: Message | undefined;
  for (let i = 0; i < 20 && !answer; i++) {
    const m = await within(
      10_000,
      "the receiver's answer",
      reader.readControl(),
    );
    if (m.type === "error" || m.type === "accept") answer = m;
  }
  conn.close();
  return { received: await within(10_000, "the receiver", receiving), answer };
}

const ONE_FILE = {
  type: "manifest" as const,
  entries: [{ path: "a.bin", type: "file" as const, size: 10 }],
  last: true,
};

Deno.test("§15: a receiver refuses a group without a key in an encrypted session, and one with a key without encryption", async () => {
  const group = { address: "239.255.9.9", port: 45_123, transfer: 77 };
  for (
    const [insecure, key] of [[false, undefined], [
      true,
      groupKey().base64,
    ]] as const
  ) {
    const r = await scriptedGroupSender([], insecure, async (send) => {
      await send({ type: "wait", joined: 1, receivers: 2 });
      await send({
        type: "udp-request",
        datagramSize: 1472,
        lossy: false,
        group: { ...group, ...(key ? { key } : {}) },
      });
      await send(ONE_FILE);
    });
    assert.equal(r.answer?.type === "error" && r.answer.code, "protocol");
    assert.equal(r.received.code, 1, r.received.stderr);
    assert.match(
      r.received.stderr,
      insecure ? /group key in a session without encryption/ : /must be sealed/,
    );
  }
});

Deno.test("a receiver that reached the group's sender over IPv6 refuses the group, and says to connect by IPv4", async () => {
  await using tmp = await tempDir();
  const file = join(tmp.path, "notes.txt");
  await Deno.writeTextFile(file, "week 3\n");
  await using sender = await groupSender(file, 1);
  const got = await within(
    30_000,
    "the receiver over IPv6",
    runPasa([
      ...["receive", "--from", `[::1]:${sender.port}`],
      ...["--out", join(tmp.path, "six"), "--json"],
    ]),
  );
  assert.notEqual(got.code, 0);
  assert.match(
    got.stderr,
    /Refusing to join a group over IPv6: .* connect to the sender by its IPv4 address/,
  );
  const sent = await within(30_000, "the sender", sender.result());
  assert.notEqual(sent.code, 0);
  assert.deepEqual(await listTree(join(tmp.path, "six")).catch(() => []), []);
});

Deno.test("§15: a receiver writing to --stdout refuses a group (no-udp)", async () => {
  const r = await scriptedGroupSender(["--stdout"], false, async (send) => {
    await send({
      type: "udp-request",
      datagramSize: 1472,
      lossy: false,
      group: {
        address: "239.255.9.9",
        port: 45_124,
        transfer: 78,
        key: groupKey().base64,
      },
    });
    await send(ONE_FILE);
  });
  assert.equal(r.answer?.type === "error" && r.answer.code, "no-udp");
  assert.equal(r.received.code, 4, r.received.stderr);
});

Deno.test("§15: a receiver in a group accepts with the sender's transfer id and a port of its own for unicast", async () => {
  const r = await scriptedGroupSender([], false, async (send) => {
    await send({
      type: "udp-request",
      datagramSize: 1472,
      lossy: false,
      slotsPerDatagram: 11,
      group: {
        address: "239.255.9.9",
        port: 45_125,
        transfer: 4_000_000_000,
        key: groupKey().base64,
      },
    });
    await send(ONE_FILE);
  });
  assert.equal(r.answer?.type, "accept", JSON.stringify(r.answer));
  const udp = r.answer?.type === "accept" ? r.answer.udp : undefined;
  assert.equal(udp?.transfer, 4_000_000_000);
  assert.equal(udp?.slotsPerDatagram, 11);
  assert.ok(
    udp?.port !== undefined && udp.port !== 45_125,
    JSON.stringify(udp),
  );
  // Cut after the accept: it keeps nothing of a file that never came, and says so.
  assert.equal(r.received.code, 1);
});

Deno.test("§15: a receiver that joined first outwaits its own --timeout while the sender gathers the rest: each wait frame extends it", async () => {
  await using tmp = await tempDir();
  const file = join(tmp.path, "slides.pdf");
  await Deno.writeTextFile(file, "%PDF-1.7\n");
  await using sender = await groupSender(file, 2);
  const early = receiveFrom(
    sender.port,
    join(tmp.path, "early"),
    "--timeout",
    "3",
  );
  // The second comes later than the first one's time-out (the sender says
  // it still gathers every 2 s).
  await new Promise((r) => setTimeout(r, 4500));
  const late = await within(
    30_000,
    "the late receiver",
    receiveFrom(sender.port, join(tmp.path, "late")),
  );
  const first = await within(30_000, "the early receiver", early);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(late.code, 0, late.stderr);
  assert.equal((await within(30_000, "the sender", sender.result())).code, 0);
  assert.equal(
    await Deno.readTextFile(join(tmp.path, "early", "slides.pdf")),
    "%PDF-1.7\n",
  );
});

/** How a scripted receiver answers the `n`-th pass-end (from 0): slots it lacks, all in, or nothing (at once, or later). */
type PassAnswer = (
  n: number,
) =>
  | [number, number][]
  | "done"
  | undefined
  | Promise<[number, number][] | "done" | undefined>;

Deno.test("on a terminal, Enter starts the group with whoever joined: not before anyone has", async (t) => {
  await using tmp = await tempDir();
  const file = join(tmp.path, "notes.txt");
  await Deno.writeTextFile(file, "week 1\n");
  const port = 20000 + Math.floor(Math.random() * 20000);
  // Enter at once, with nobody there: said, and waited on.
  const sender = await onTerminal([
    ...["send", file, "--listen", "--receivers", "3", "--no-multicast"],
    ...["--no-announce", "--port", String(port)],
  ], "\n");
  if (typeof sender === "string") {
    await t.step({ name: `(skipped: ${sender})`, ignore: true, fn: () => {} });
    return;
  }
  await using _terminal = sender;
  await sender.seen(/Press Enter to start with whoever has joined/);
  await sender.seen(/Nobody has joined yet/);
  const one = receiveFrom(port, join(tmp.path, "one"));
  await sender.seen(/Receiver 1 of 3 joined/);
  await sender.type("\n");
  const got = await within(30_000, "the one receiver", one);
  assert.equal(got.code, 0, got.stderr);
  assert.equal(
    await Deno.readTextFile(join(tmp.path, "one", "notes.txt")),
    "week 1\n",
  );
  const said = await within(30_000, "the sender", sender.output);
  assert.match(said, /Sending to 1 receiver/);
  assert.match(said, /to 1 of 1 receivers?/);
  assert.equal((await sender.child.status).code, 0);
});

Deno.test("a receiver that joined and is gone before the start no longer counts: the sender says so and waits for another", async () => {
  await using tmp = await tempDir();
  const file = join(tmp.path, "notes.txt");
  await Deno.writeTextFile(file, "week 2\n");
  const child = spawnPasa([
    ...["send", file, "--listen", "--receivers", "2", "--no-multicast"],
    ...["--port", "0", "--json"],
  ]);
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  const said: Record<string, unknown>[] = [];
  /** Reads the sender's events until one named `event` (bounded). */
  const until = (event: string) =>
    within(
      20_000,
      `the sender's ${event} event`,
      (async () => {
        for (;;) {
          const found = said.find((e) => e.event === event);
          if (found) return found;
          const { value, done } = await lines.read();
          if (done) {
            throw new Error(`the sender ended: ${JSON.stringify(said)}`);
          }
          buffered += value;
          const parts = buffered.split("\n");
          buffered = parts.pop()!;
          said.push(...parts.filter((l) => l.trim()).map((l) => JSON.parse(l)));
        }
      })(),
    );
  try {
    const { port } = await until("listening") as { port: number };
    // Pairs, then vanishes while the sender would wait for more.
    (await pairedReceiver(port)).link.close();
    const left = await until("left");
    assert.equal(left.joined, 0);
    assert.equal(left.receivers, 2);
    const got = await within(
      30_000,
      "two receivers after it",
      Promise.all(
        ["b", "c"].map((out) => receiveFrom(port, join(tmp.path, out))),
      ),
    );
    for (const r of got) assert.equal(r.code, 0, r.stderr);
    const end = await until("group-summary");
    assert.equal(end.receivers, 2);
    assert.equal(end.verified, 2);
    assert.equal((await child.status).code, 0);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* ended */ }
    await child.status;
    lines.releaseLock();
    await child.stdout.cancel().catch(() => {});
    await child.stderr.cancel().catch(() => {});
  }
});

/** Connects to a group's sender at `port` and pairs as a receiver, with the tests' code. */
async function pairedReceiver(
  port: number,
): Promise<{ link: Link; reader: FrameReader }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const link = new Link(conn, {
    timeoutMs: 0,
    pairing: { code: TEST_CODE, initiator: true },
  });
  const reader = new FrameReader(link);
  await handshake(link, reader, "receiver");
  return { link, reader };
}

/**
 * Joins a group as a scripted receiver that answers every pass-end with
 * `missing` (or, without, reports every 100 ms and never answers), and
 * returns every frame the sender sent it (an error last).
 */

async function scriptedGroupReceiver(
  port: number,
  missing?: [number, number][] | PassAnswer,
  /** Every datagram that reaches its own socket goes here. */
  datagrams?: DatagramHeader[],
  /** After the file-end, stay this long, reporting, without a file-ok. */
  holdMs = 0,
): Promise<Message[]> {
  const answer: PassAnswer = typeof missing === "function"
    ? missing
    : () => missing;
  const { link, reader } = await pairedReceiver(port);
  const own = Deno.listenDatagram({
    hostname: "127.0.0.1",
    port: 0,
    transport: "udp",
  });
  const heard: Message[] = [];
  let reports: ReturnType<typeof setInterval> | undefined;
  const listening = (async () => {
    for (;;) {
      const [d] = await own.receive();
      const header = readHeader(d);
      if (typeof header !== "string") datagrams?.push(header);
    }
  })().catch(() => {}); // ends when the socket closes
  let passEnds = 0;
  try {
    for (let i = 0; i < 50; i++) {
      const m = await within(
        20_000,
        "the sender's frames",
        reader.readControl(),
      );
      heard.push(m);
      if (m.type === "manifest" && m.last) {
        const request = heard.find((h) => h.type === "udp-request");
        await writeControl(link, {
          type: "accept",
          security: "spake2-p256-chacha20poly1305",
          udp: {
            transfer: request?.type === "udp-request"
              ? request.group!.transfer
              : 0,
            slotsPerDatagram: 1,
            port: (own.addr as Deno.NetAddr).port,
          },
        });
        // Alive to the sender's eyes, whatever it does with the passes.
        reports = setInterval(() =>
          writeControl(link, {
            type: "udp-report",
            received: 1,
            expected: 1,
          }).catch(() => {}), 100);
      }
      const said = m.type === "udp-pass-end"
        ? await answer(passEnds++)
        : undefined;
      if (m.type === "udp-pass-end" && said === "done") {
        await writeControl(link, {
          type: "udp-file-done",
          index: m.index,
          complete: true,
        });
      } else if (m.type === "udp-pass-end" && Array.isArray(said)) {
        await writeControl(link, {
          type: "udp-missing",
          index: m.index,
          ranges: said,
        });
      }
      if (m.type === "error") break;
      if (m.type === "file-end") {
        // The datagrams of the file are over: what came is in `datagrams`.
        // (Holding on, reporting, it never confirms the file.)
        const heardEnd = within(
          holdMs + 5_000,
          "the sender to give up",
          reader.readControl().then(
            (m) => heard.push(m),
            () => {},
          ),
        ).catch(() => {});
        await Promise.race([
          new Promise((r) => setTimeout(r, holdMs || 100)),
          holdMs ? heardEnd : new Promise(() => {}),
        ]);
        break;
      }
    }
  } catch {
    // the sender closed after its error: what it said is in `heard`
  } finally {
    clearInterval(reports);
    link.close();
    own.close();
    await listening;
  }
  return heard;
}

/**
 * A group of two by unicast: the scripted receiver (answering pass-ends
 * with `missing`, or never) beside a real one. Returns what the sender
 * said to the scripted one, its last message's text, the sender's result,
 * and whether the real one got the file.
 */
async function besideAnHonestOne(
  missing?: [number, number][] | PassAnswer,
  more: { honestWithinMs?: number; holdMs?: number; flags?: string[] } = {},
) {
  await using tmp = await tempDir();
  const bytes = new Uint8Array(60_000).fill(7);
  const file = join(tmp.path, "data.bin");
  await Deno.writeFile(file, bytes);
  await using sender = await startListening([
    ...["send", file, "--listen", "--receivers", "2", "--no-multicast"],
    ...(more.flags ?? []),
  ]);
  const scripted = scriptedGroupReceiver(
    sender.port,
    missing,
    undefined,
    more.holdMs,
  );
  const honest = await within(
    more.honestWithinMs ?? 60_000,
    "the honest receiver",
    receiveFrom(sender.port, join(tmp.path, "honest")),
  );
  assert.equal(honest.code, 0, honest.stderr);
  const told = await within(30_000, "the scripted receiver", scripted);
  const last = told.at(-1);
  const sent = await within(30_000, "the sender", sender.result());
  assert.deepEqual(
    await Deno.readFile(join(tmp.path, "honest", "data.bin")),
    bytes,
  );
  return {
    told,
    why: last?.type === "error" ? last.message : "",
    sent,
    outcomes: events(sent.stdout).filter((e) => e.event === "receiver")
      .map((e) => e.ok),
  };
}

Deno.test("§15: a receiver asking for slots the file does not have is put out of the group, told why, and the others get the file", async () => {
  const r = await besideAnHonestOne([[1_000_000, 5]]);
  assert.match(r.why, /slots 1000000\+5 of a \d+-slot file/);
  assert.equal(r.sent.code, 1);
  assert.deepEqual(r.outcomes.sort(), [false, true]);
});

Deno.test("§15: a receiver that asks for repairs without end is put out after 32 rounds; the others get the file", async () => {
  const r = await besideAnHonestOne([[0, 1]]);
  assert.equal(r.told.filter((m) => m.type === "udp-pass-end").length, 33);
  assert.match(r.why, /did not end in 32 rounds/);
  assert.equal(r.sent.code, 1);
});

Deno.test("§15: a receiver that asks for the whole file again after every pass is put out once it asked for twice the file; the others get the file", async () => {
  const slots = Math.ceil(60_000 / (1472 - 56));
  const r = await besideAnHonestOne([[0, slots]]);
  assert.equal(r.told.filter((m) => m.type === "udp-pass-end").length, 3);
  assert.match(r.why, /asked for more than 2 times the file again/);
  assert.equal(r.sent.code, 1);
});

Deno.test("§15: a receiver whose repairs never end, slowly, is put out after 10 s, and the receivers with every slot are let go at once, not held for it", async () => {
  const r = await besideAnHonestOne(
    // One slot, again and again, a second apart: few bytes, many rounds.
    async () => {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      return [[0, 1]];
    },
    { honestWithinMs: 8_000 },
  );
  assert.match(r.why, /did not end in 10 s/);
  assert.equal(r.sent.code, 1);
});

Deno.test("§15: a receiver that never confirms its file, though it keeps reporting, does not keep the sender: its time-out ends the wait", async () => {
  const started = performance.now();
  const r = await besideAnHonestOne(() => "done", {
    holdMs: 30_000,
    flags: ["--timeout", "3"],
  });
  assert.equal(r.sent.code, 1);
  assert.ok(
    performance.now() - started < 20_000,
    "the sender gave up long before the receiver let go",
  );
  assert.deepEqual(r.outcomes.sort(), [false, true]);
});

Deno.test("§15: a receiver that reports but never answers the end of a pass is put out after 10 s; the others get the file", async () => {
  const r = await besideAnHonestOne();
  assert.match(r.why, /did not answer the end of a pass within 10 s/);
  assert.equal(r.sent.code, 1);
});

Deno.test("§15: a slot that one receiver lacks is repaired to it alone: the other is not sent it, and each pass-end says how many datagrams were addressed to its receiver", async () => {
  await using tmp = await tempDir();
  const file = join(tmp.path, "data.bin");
  await Deno.writeFile(file, new Uint8Array(60_000).fill(7));
  await using sender = await groupSender(file, 2);
  const toFirst: DatagramHeader[] = [];
  const toSecond: DatagramHeader[] = [];
  // One lacks slot 0, the other slot 1. Then the first asks for slots the
  // file does not have (and is put out), the other has it all.
  const [first, second] = await within(
    60_000,
    "two scripted receivers",
    Promise.all([
      scriptedGroupReceiver(
        sender.port,
        (n) => n === 0 ? [[0, 1]] : [[1_000_000, 1]],
        toFirst,
      ),
      scriptedGroupReceiver(
        sender.port,
        (n) => n === 0 ? [[1, 1]] : "done",
        toSecond,
      ),
    ]),
  );
  await within(30_000, "the sender", sender.result());
  type PassEnd = Extract<Message, { type: "udp-pass-end" }>;
  const ends = (heard: Message[]) =>
    heard.filter((m) => m.type === "udp-pass-end") as PassEnd[];
  for (
    const [heard, slot, got, other] of [
      [first, 0, toFirst, toSecond],
      [second, 1, toSecond, toFirst],
    ] as const
  ) {
    const [pass, repair] = ends(heard);
    assert.ok(pass && repair, JSON.stringify(heard.map((m) => m.type)));
    assert.equal(repair.sent, pass.sent + 2, "one repair datagram each");
    assert.equal(repair.addressed, repair.sent - 1, "the other's went alone");
    assert.ok(repair.retransmittedBytes > 0);
    const repairs = got.filter((h) => h.sequence >= pass.sent);
    assert.equal(repairs.length, 1, JSON.stringify(repairs));
    // One slot a datagram: slot 1 starts where the first pass's second did.
    const payload = Math.min(
      ...got.filter((h) => h.offset > 0).map((h) => h.offset),
    );
    assert.equal(repairs[0]!.offset, slot * payload);
    assert.ok(
      !other.some((h) => h.sequence === repairs[0]!.sequence),
      "the other receiver was not sent it",
    );
  }
});

Deno.test("pasa bench --receivers 2 measures one generated payload sent once to both: each compares it where it lands, keeps nothing, and has its own goodput and loss", async () => {
  await using tmp = await tempDir();
  await using sender = await startListening([
    "bench",
    "--receivers",
    "2",
    "--no-multicast",
    "--size",
    "3MiB",
  ]);
  const outs = [join(tmp.path, "a"), join(tmp.path, "b")];
  const received = await within(
    60_000,
    "two receivers",
    Promise.all(outs.map((out) => receiveFrom(sender.port, out))),
  );
  for (const r of received) {
    assert.equal(r.code, 0, r.stderr);
    const summary = events(r.stdout).find((e) => e.event === "summary")!;
    assert.equal(summary.measurement, true);
  }
  for (const out of outs) assert.deepEqual(await listTree(out), []);
  const sent = await within(30_000, "the sender", sender.result());
  assert.equal(sent.code, 0, sent.stderr);
  const said = events(sent.stdout);
  const each = said.filter((e) => e.event === "receiver");
  assert.deepEqual(each.map((e) => e.check), ["pattern", "pattern"]);
  for (const e of each) {
    assert.equal(e.bytes, 3 * 1024 * 1024);
    assert.ok((e.bytesPerSecond as number) > 0);
    assert.equal(typeof e.firstPassLossPercent, "number");
  }
  const end = said.find((e) => e.event === "group-summary")!;
  assert.equal(end.measurement, true);
  assert.equal(end.verified, 2);
});

Deno.test("pasa bench --receivers goes alone: not with --to or --runs, and --wait needs it (usage errors, exit 2)", async () => {
  const a = await runPasa(["bench", "--receivers", "2", "--to", "127.0.0.1:9"]);
  assert.equal(a.code, 2);
  assert.match(
    a.stderr,
    /--receivers measures one payload sent once to a group/,
  );
  const b = await runPasa(["bench", "--wait", "3"]);
  assert.equal(b.code, 2);
  assert.match(
    b.stderr,
    /--wait, --no-multicast and --port go with --receivers/,
  );
});

Deno.test("a receiver that has every file as it is does not hold the group while it is slow to say done: the others get theirs", async () => {
  await using tmp = await tempDir();
  const file = join(tmp.path, "notes.txt");
  await Deno.writeTextFile(file, "week 3\n");
  await using sender = await startListening([
    ...["send", file, "--listen", "--receivers", "2", "--no-multicast"],
  ]);
  // A receiver that offers the file unchanged, is taken at its word, and
  // then says nothing more until told.
  let release = () => {};
  const held = new Promise<void>((resolve) => release = resolve);
  const scripted = (async () => {
    const { link, reader } = await pairedReceiver(sender.port);
    try {
      let request: Message | undefined;
      for (let i = 0; i < 20; i++) {
        const m = await within(20_000, "the manifest", reader.readControl());
        if (m.type === "udp-request") request = m;
        if (m.type !== "manifest" || !m.last) continue;
        const entry = m.entries[0]!;
        await writeControl(link, {
          type: "accept",
          security: "spake2-p256-chacha20poly1305",
          udp: {
            transfer: request?.type === "udp-request"
              ? request.group!.transfer
              : 0,
            slotsPerDatagram: 1,
            port: 9,
          },
          offers: 1,
        });
        const size = entry.type === "file" ? entry.size! : 0;
        await writeControl(link, {
          type: "resume-offer",
          index: 0,
          offset: size,
          unchanged: true,
        });
        const claim = await within(5_000, "the claim", reader.readControl());
        assert.equal(claim.type === "resume-claim" && claim.unchanged, true);
        await writeControl(link, {
          type: "resume-answer",
          index: 0,
          offset: size,
          unchanged: true,
        });
        break;
      }
      await within(30_000, "the release", held);
    } finally {
      link.close();
    }
  })();
  const real = await within(
    15_000,
    "the receiver that lacks the file, while the other holds its done",
    receiveFrom(sender.port, join(tmp.path, "real")),
  );
  release();
  await scripted;
  assert.equal(real.code, 0, real.stderr);
  assert.equal(
    await Deno.readTextFile(join(tmp.path, "real", "notes.txt")),
    "week 3\n",
  );
  await within(30_000, "the sender", sender.result());
});

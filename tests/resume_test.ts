import assert from "node:assert/strict";
import { join } from "node:path";
import { CHUNK_SIZE, encodeControl, type Entry } from "../lib/protocol.ts";
import { SOFTWARE } from "../lib/version.ts";
import {
  events,
  listTree,
  patterned,
  runPasa,
  sendTo,
  sha256File,
  slowUdpSendUnderWay,
  startListening,
  tempDir,
  within,
} from "./helpers.ts";
import { startProxy } from "./proxy.ts";
import { startUdpRelay } from "./udp_relay.ts";
import { SLOTS_PER_DATAGRAM_LOOPBACK } from "../lib/udp_sizing.ts";

const SIZE = 3 * 1024 * 1024 + 12_345;

async function source(dir: string, seed = 1): Promise<string> {
  const path = join(dir, "data.bin");
  await Deno.writeFile(
    path,
    new Uint8Array(SIZE).map((_, i) => (i * 13 + seed * 7 + (i >> 9)) & 0xff),
  );
  return path;
}

/** Where the second chunk's header starts in what the sender sends, from the real encoders. */
async function secondChunkHeader(path: string): Promise<number> {
  const info = await Deno.stat(path);
  const entry: Entry = {
    path: "data.bin",
    type: "file",
    size: info.size,
    mode: info.mode! & 0o777,
    mtime: info.mtime!.getTime(),
  };
  const hello = encodeControl({
    type: "hello",
    role: "sender",
    software: SOFTWARE,
    security: ["none"],
  });
  const manifest = encodeControl({
    type: "manifest",
    entries: [entry],
    last: true,
  });
  return 8 + hello.length + manifest.length + 4 + CHUNK_SIZE;
}

/**
 * Cuts a first attempt after `cut` bytes, then sends again directly; returns
 * both runs. A cut before the pairing leaves the one-shot receiver
 * listening (a stranger's connection is not its transfer): the second
 * attempt goes to that same receiver; otherwise to a new one.
 */
async function cutThenResend(
  cutAt: (file: string) => Promise<number> | number,
  flags: string[] = [],
  beforePairing = false,
) {
  await using tmp = await tempDir();
  const file = await source(tmp.path);
  const out = join(tmp.path, "out");
  const cut = await cutAt(file);
  let first;
  let afterCut: string[] = [];
  await using firstReceiver = await startListening([
    "receive",
    "--out",
    out,
    ...flags,
  ]);
  {
    await using proxy = startProxy(firstReceiver.port, { cutAfter: cut });
    first = await sendTo(proxy.port, file, ...flags);
    if (!beforePairing) {
      await within(30_000, "the cut receiver", firstReceiver.result());
    }
    afterCut = await listTree(out).catch(() => []);
  }
  await using receiver = beforePairing ? firstReceiver : await startListening([
    "receive",
    "--out",
    out,
    ...flags,
  ]);
  const second = await sendTo(receiver.port, file, "--json", ...flags);
  const received = await within(30_000, "the receiver", receiver.result());
  return {
    first,
    afterCut,
    second,
    received,
    same: await sha256File(join(out, "data.bin")).then(
      async (s) => s === await sha256File(file),
      () => false,
    ),
    tree: await listTree(out),
  };
}

// Offsets computed from the plain encoders hold for --insecure sessions; an
// encrypted one keeps what its whole 256 KiB records delivered.
const cuts: [
  string,
  (file: string) => Promise<number> | number,
  boolean,
  string[],
  boolean?,
][] = [
  ["inside the preamble", () => 6, false, [], true],
  ["inside the hello frame", () => 30, false, [], true],
  ["inside the first chunk (--insecure)", () => 200_000, true, ["--insecure"]],
  ["inside the third record", () => 700_000, true, []],
  [
    "inside the second chunk's frame header (--insecure)",
    async (f) => (await secondChunkHeader(f)) + 2,
    true,
    ["--insecure"],
  ],
  ["inside the last chunk", () => SIZE - 1000, true, []],
];
for (const [where, cutAt, resumes, flags, beforePairing] of cuts) {
  Deno.test(`a transfer cut ${where} leaves nothing under the final name, and the rerun completes`, async () => {
    const r = await cutThenResend(cutAt, flags, beforePairing);
    assert.equal(r.first.code, 1, r.first.stderr);
    assert.ok(
      !r.afterCut.includes("data.bin"),
      "never a file under its final name after a cut",
    );
    assert.deepEqual(r.afterCut, resumes ? ["data.bin.pasa.part"] : []);
    assert.equal(r.second.code, 0, r.second.stderr);
    assert.ok(r.same, "the received file equals the source");
    assert.deepEqual(r.tree, ["data.bin"]);
    const resumed = events(r.second.stdout).find((e) => e.event === "resumed");
    if (resumes) {
      assert.ok(
        (resumed?.offset as number) > 0,
        `resumed at ${resumed?.offset}`,
      );
    } else assert.equal(resumed, undefined);
    // The rate is over what this run sent, never over the kept prefix.
    const offset = (resumed?.offset as number | undefined) ?? 0;
    const summary = events(r.second.stdout).find((e) => e.event === "summary")!;
    assert.equal(summary.resumedBytes, offset);
    assert.equal(summary.sentBytes, SIZE - offset);
    assert.equal(
      summary.bytesPerSecond,
      (SIZE - offset) / (summary.seconds as number),
    );
    const got = events(r.received.stdout).find((e) => e.event === "summary")!;
    assert.deepEqual(
      [got.resumedBytes, got.sentBytes],
      [offset, SIZE - offset],
      "the receiver counts the same",
    );
  });
}

Deno.test("a .part from a different source is detected, and the file starts over", async () => {
  await using tmp = await tempDir();
  const file = await source(tmp.path);
  const out = join(tmp.path, "out");
  await Deno.mkdir(out);
  // A stale part: same name, other bytes.
  await Deno.writeFile(
    join(out, "data.bin.pasa.part"),
    new Uint8Array(500_000).fill(0x5a),
  );
  await using receiver = await startListening(["receive", "--out", out]);
  const sent = await sendTo(receiver.port, file);
  assert.equal(sent.code, 0, sent.stderr);
  assert.match(
    sent.stdout,
    /partial copy of data.bin differs from this file: starting it over/,
  );
  assert.doesNotMatch(sent.stdout, /Resuming/);
  await receiver.result();
  assert.equal(await sha256File(join(out, "data.bin")), await sha256File(file));
  assert.deepEqual(await listTree(out), ["data.bin"]);
});

Deno.test("send --no-resume starts over even where the prefix matches", async () => {
  await using tmp = await tempDir();
  const file = await source(tmp.path);
  const out = join(tmp.path, "out");
  await Deno.mkdir(out);
  await Deno.writeFile(
    join(out, "data.bin.pasa.part"),
    (await Deno.readFile(file)).subarray(0, 1_000_000),
  );
  await using receiver = await startListening(["receive", "--out", out]);
  const sent = await sendTo(receiver.port, file, "--no-resume", "--json");
  assert.equal(sent.code, 0, sent.stderr);
  assert.equal(
    events(sent.stdout).find((e) => e.event === "resumed"),
    undefined,
  );
  await receiver.result();
  assert.equal(await sha256File(join(out, "data.bin")), await sha256File(file));
});

Deno.test("send --retry reconnects after a cut and resumes, printing each attempt", async () => {
  await using tmp = await tempDir();
  const file = await source(tmp.path);
  const out = join(tmp.path, "out");
  await using receiver = await startListening([
    "receive",
    "--keep",
    "--out",
    out,
  ]);
  await using proxy = startProxy(receiver.port, {
    cutAfter: 2_000_000,
    connections: 1,
  });
  const sent = await sendTo(proxy.port, file, "--retry", "2");
  assert.equal(sent.code, 0, sent.stderr);
  assert.match(sent.stderr, /trying again in 1 s \(attempt 2 of 3\)/);
  assert.match(
    sent.stdout,
    /Resuming data.bin after 1\.\d MiB \(prefix verified with SHA-256\)/,
  );
  receiver.kill();
  await receiver.result();
  assert.equal(await sha256File(join(out, "data.bin")), await sha256File(file));
  assert.deepEqual(await listTree(out), ["data.bin"]);
});

Deno.test("without --retry a cut is final: exit 1 after one attempt", async () => {
  await using tmp = await tempDir();
  const file = await source(tmp.path);
  await using receiver = await startListening([
    "receive",
    "--keep",
    "--out",
    tmp.path + "/out",
  ]);
  await using proxy = startProxy(receiver.port, {
    cutAfter: 500_000,
    connections: 1,
  });
  const sent = await runPasa(["send", file, "--to", `127.0.0.1:${proxy.port}`]);
  assert.equal(sent.code, 1);
  assert.doesNotMatch(sent.stderr, /trying again/);
  receiver.kill();
  await receiver.result();
});

Deno.test("a directory cut midway resumes: finished files are skipped, the cut one resumes", async () => {
  await using tmp = await tempDir();
  const dir = join(tmp.path, "set");
  await Deno.mkdir(dir);
  for (
    const [name, seed] of [["a.bin", 1], ["b.bin", 2], ["c.bin", 3]] as const
  ) {
    await Deno.writeFile(
      join(dir, name),
      new Uint8Array(1_500_000).map((_, i) => (i * seed + seed) & 0xff),
    );
  }
  const out = join(tmp.path, "out");
  {
    // Cut inside b.bin: a.bin is complete by then.
    await using receiver = await startListening(["receive", "--out", out]);
    await using proxy = startProxy(receiver.port, { cutAfter: 2_200_000 });
    assert.equal((await sendTo(proxy.port, dir)).code, 1);
    await receiver.result();
  }
  assert.deepEqual(await listTree(out), [
    "set/",
    "set/a.bin",
    "set/b.bin.pasa.part",
  ]);
  const before = (await Deno.stat(join(out, "set", "a.bin"))).mtime;
  await using receiver = await startListening(["receive", "--out", out]);
  const sent = await sendTo(receiver.port, dir, "--json");
  assert.equal(sent.code, 0, sent.stderr);
  await receiver.result();
  const ev = events(sent.stdout);
  // a.bin has the sender's size and time: taken as it is, read by nobody.
  assert.deepEqual(
    ev.filter((e) => e.event === "unchanged").map((e) => [e.files, e.bytes]),
    [[1, 1_500_000]],
  );
  assert.equal(ev.filter((e) => e.event === "skipped").length, 0);
  assert.deepEqual(ev.filter((e) => e.event === "resumed").map((e) => e.name), [
    "set/b.bin",
  ]);
  // A file taken unchanged moved nothing: no rate; the totals say what was there.
  const listed = ev.find((e) => e.event === "summary")!.files as Record<
    string,
    unknown
  >[];
  const a = listed.find((e) => e.name === "set/a.bin")!;
  assert.deepEqual(
    [a.resumedBytes, a.sentBytes, a.bytesPerSecond, a.unchanged, a.sha256],
    [1_500_000, 0, 0, true, null],
  );
  const bOffset = ev.find((e) => e.event === "resumed")!.offset as number;
  const summary = ev.find((e) => e.event === "summary")!;
  assert.equal(summary.bytes, 4_500_000);
  assert.equal(summary.resumedBytes, 1_500_000 + bOffset);
  assert.equal(summary.sentBytes, 3_000_000 - bOffset);
  for (const name of ["a.bin", "b.bin", "c.bin"]) {
    assert.equal(
      await sha256File(join(out, "set", name)),
      await sha256File(join(dir, name)),
      name,
    );
  }
  assert.equal(
    (await Deno.stat(join(out, "set", "a.bin"))).mtime?.getTime(),
    before?.getTime(),
    "a.bin untouched",
  );
});

Deno.test("a file changed on the receiver but given back its size and time is kept; --check compares contents and finds it", async () => {
  await using tmp = await tempDir();
  const file = await source(tmp.path);
  const out = join(tmp.path, "out");
  {
    await using receiver = await startListening(["receive", "--out", out]);
    assert.equal((await sendTo(receiver.port, file)).code, 0);
    await receiver.result();
  }
  // Other bytes, same size, and the time the receiver had set.
  const there = join(out, "data.bin");
  const { mtime } = await Deno.stat(there);
  await Deno.writeFile(there, new Uint8Array(SIZE).fill(7));
  await Deno.utime(there, mtime!, mtime!);
  {
    await using receiver = await startListening(["receive", "--out", out]);
    const quick = await sendTo(receiver.port, file, "--json");
    assert.equal(quick.code, 0, quick.stderr);
    await receiver.result();
    const unchanged = events(quick.stdout).find((e) => e.event === "unchanged");
    assert.deepEqual([unchanged?.files, unchanged?.bytes], [1, SIZE]);
    assert.ok(
      (await Deno.readFile(there)).every((b) => b === 7),
      "by size and time alone, the receiver's file is taken as it is",
    );
  }
  await using receiver = await startListening(["receive", "--out", out]);
  const checked = await sendTo(receiver.port, file, "--check");
  assert.equal(checked.code, 4, "--check reads both and finds they differ");
  assert.match(checked.stderr, /exists and differs from the sender's file/);
  await receiver.result();
});

Deno.test("a file already there with the same size but other bytes is still refused", async () => {
  await using tmp = await tempDir();
  const file = await source(tmp.path);
  const out = join(tmp.path, "out");
  await Deno.mkdir(out);
  await Deno.writeFile(join(out, "data.bin"), new Uint8Array(SIZE).fill(7));
  // Another time than the sender's file: written in the same millisecond,
  // it would be taken unchanged, by size and time.
  await Deno.utime(join(out, "data.bin"), 1_000_000, 1_000_000);
  await using receiver = await startListening(["receive", "--out", out]);
  const sent = await sendTo(receiver.port, file);
  assert.equal(sent.code, 4);
  assert.match(
    sent.stderr,
    /data.bin exists and differs from the sender's file \(pasa receive --force replaces it\)/,
  );
  await receiver.result();
  assert.deepEqual(
    await Deno.readFile(join(out, "data.bin")),
    new Uint8Array(SIZE).fill(7),
  );
});

Deno.test("a UDP transfer cut mid-pass keeps its contiguous prefix, and a UDP rerun resumes it", async () => {
  await using tmp = await tempDir();
  const file = join(tmp.path, "u.bin");
  await Deno.writeFile(
    file,
    new Uint8Array(8 * 1024 * 1024).map((_, i) => (i * 31 + (i >> 12)) & 0xff),
  );
  const out = join(tmp.path, "out");
  const part = join(out, "u.bin.pasa.part");
  {
    await using receiver = await startListening([
      "receive",
      "--udp",
      "--out",
      out,
    ]);
    // 8 MiB at 20 Mbit/s takes over 3 s: surely mid-pass when killed.
    const sender = await slowUdpSendUnderWay(
      file,
      receiver.port,
      part,
      2 * 1024 * 1024,
    );
    sender.kill("SIGKILL");
    await sender.output();
    assert.equal((await receiver.result()).code, 1);
  }
  const kept = (await Deno.stat(part)).size;
  assert.ok(kept > 0, "a prefix is kept");
  await using receiver = await startListening([
    "receive",
    "--udp",
    "--out",
    out,
  ]);
  // A modest fixed rate: losses (and their repairs) stay far below the
  // prefix, so repairs cannot hide a prefix that was fetched again.
  const rerun = await sendTo(
    receiver.port,
    file,
    "--udp",
    "--rate",
    "200M",
    "--json",
  );
  assert.equal(rerun.code, 0, rerun.stderr);
  await receiver.result();
  const resumed = events(rerun.stdout).find((e) => e.event === "resumed");
  const offset = resumed?.offset as number;
  assert.ok(
    offset > 0 && offset <= kept,
    `resumed at ${offset} of ${kept} kept`,
  );
  // Slots: a 1,472-byte datagram less its 40-byte header and 16-byte tag.
  assert.equal(
    offset % (1472 - 40 - 16),
    0,
    "a whole number of datagram slots",
  );
  assert.equal(await sha256File(join(out, "u.bin")), await sha256File(file));
  // The kept prefix was used, not fetched again by repairs.
  const summary = events(rerun.stdout).find((e) => e.event === "summary");
  const retransmitted = (summary?.udp as { retransmittedBytes: number })
    .retransmittedBytes;
  assert.ok(
    retransmitted < offset,
    `${retransmitted} bytes sent again after resuming at ${offset}`,
  );
});

Deno.test("a UDP transfer cut with holes keeps every whole slot that arrived, and the rerun sends only the rest", async () => {
  await using tmp = await tempDir();
  const size = 8 * 1024 * 1024;
  const file = await patterned(tmp.path, "holes.bin", size);
  const out = join(tmp.path, "out");
  const part = join(out, "holes.bin.pasa.part");
  {
    // The relay forwards one port: no lanes around it.
    await using receiver = await startListening([
      "receive",
      "--udp",
      "--one-port",
      "--out",
      out,
    ]);
    // 10% of datagrams lost on the way: the part has holes all along.
    await using relay = startUdpRelay(receiver.port, { seed: 5, drop: 0.1 });
    const sender = await slowUdpSendUnderWay(file, relay.port, part, 3e6);
    sender.kill("SIGKILL");
    await sender.output();
    const cut = await receiver.result();
    const kept = events(cut.stdout).find((e) => e.event === "kept");
    assert.ok((kept?.bytes as number) > 2e6, JSON.stringify(kept));
  }
  await using receiver = await startListening([
    "receive",
    "--udp",
    "--out",
    out,
  ]);
  const rerun = await sendTo(receiver.port, file, "--udp", "--json");
  assert.equal(rerun.code, 0, rerun.stderr);
  await receiver.result();
  const resumed = events(rerun.stdout).find((e) => e.event === "resumed");
  const kept = resumed?.kept as number;
  assert.ok(
    kept > (resumed?.offset as number) && kept > 2e6,
    `slots past the first hole were kept: ${JSON.stringify(resumed)}`,
  );
  // The sender said how much it read to check them: all of it, not the prefix.
  const checking = events(rerun.stdout).find((e) => e.event === "checking");
  assert.equal(checking?.bytes, kept);
  assert.equal(
    await sha256File(join(out, "holes.bin")),
    await sha256File(file),
  );
  // Only what was missing went again: even were every datagram full, they
  // carried less than the file.
  const summary = events(rerun.stdout).find((e) => e.event === "summary")!;
  assert.equal(summary.resumedBytes, kept);
  assert.equal(summary.sentBytes, size - kept);
  const udp = summary.udp as Record<string, number>;
  const most = udp.datagramsSent! * SLOTS_PER_DATAGRAM_LOOPBACK * 1416;
  assert.ok(most < size, `up to ${most} bytes sent of ${size}`);
});

Deno.test("send --retry takes over its own session that a --keep receiver still holds after a cut neither side saw, and resumes it", async () => {
  await using tmp = await tempDir();
  const file = await source(tmp.path);
  const out = join(tmp.path, "out");
  await using receiver = await startListening([
    "receive",
    "--keep",
    "--out",
    out,
  ]);
  {
    // The first connection freezes mid-file, open but silent both ways:
    // the receiver (60 s time-out) still holds it when the retry comes.
    await using proxy = startProxy(receiver.port, {
      freezeAfter: 1_500_000,
      connections: 1,
    });
    const sent = await sendTo(
      proxy.port,
      file,
      ...["--retry", "2", "--timeout", "2", "--json"],
    );
    assert.equal(sent.code, 0, sent.stderr);
    assert.match(sent.stdout, /trying again in 1 s \(attempt 2 of 3\)/);
    assert.ok(
      events(sent.stdout).some((e) => e.event === "resumed"),
      "the retry resumed what the first attempt left",
    );
  }
  assert.equal(await sha256File(join(out, "data.bin")), await sha256File(file));
  receiver.kill();
  const served = await receiver.result();
  assert.ok(
    events(served.stdout).some((e) => e.event === "takeover"),
    served.stdout,
  );
});

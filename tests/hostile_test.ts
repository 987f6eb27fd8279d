/**
 * The hostile suite: each test plays an attack found by a hostile review,
 * from a stranger (no code) or from a peer that paired and then lies, and
 * checks the receiver's promises still hold. Every wait is bounded.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { type PasaError, RefusedError } from "../lib/errors.ts";
import { Destination } from "../lib/fsio.ts";
import { checkManifest } from "../lib/manifest.ts";
import { sealDatagram } from "../lib/records.ts";
import { slotPayload, writeHeader } from "../lib/udp.ts";
import {
  encodeControl,
  encodePreamble,
  type Entry,
  type Message,
} from "../lib/protocol.ts";
import { concat, FrameReader, writeControl } from "../lib/frames.ts";
import { Link } from "../lib/link.ts";
import { handshake } from "../lib/session.ts";
import {
  events,
  keepReceiver,
  listTree,
  peakRss,
  type Receiver,
  runPasa,
  sendTo,
  sha256File,
  startListening,
  StillWaiting,
  tempDir,
  TEST_CODE,
  TESTFILES,
  within,
} from "./helpers.ts";
import {
  connectAsSender,
  helloOnly,
  offer,
  resetStorm,
  sendBody,
} from "./peer.ts";

/** A `receive --keep` into `out`, with `flags`. */
/** Checks that `receiver` still serves a real sender, then stops it. */
async function servesNext(receiver: Receiver) {
  const sent = await within(
    10_000,
    "the next sender",
    sendTo(receiver.port, join(TESTFILES, "one-byte.bin")),
  );
  assert.equal(sent.code, 0, sent.stderr);
  await stop(receiver);
}

/** Interrupts a receiver and waits (bounded) for it to end. */
async function stop(receiver: Receiver) {
  receiver.kill();
  return await within(10_000, "the receiver", receiver.result());
}

Deno.test("a stranger resetting connections in a loop never stops a --keep receiver", async () => {
  await using tmp = await tempDir();
  await using receiver = await keepReceiver(tmp.path);
  const resets = await resetStorm(receiver.port, { count: 4000, ms: 4000 });
  assert.ok(resets > 500, `only ${resets} resets were made`);
  const sent = await within(
    30_000,
    "a sender after the storm",
    sendTo(receiver.port, join(TESTFILES, "all-bytes.bin")),
  );
  assert.equal(sent.code, 0, sent.stderr);
  receiver.kill();
  const received = await within(10_000, "the receiver", receiver.result());
  assert.equal(received.code, 0, received.stderr);
  assert.deepEqual(await listTree(tmp.path), ["all-bytes.bin"]);
  // Said, but not once per reset.
  assert.ok(
    received.stderr.split("\n").length < 50,
    `${received.stderr.split("\n").length} lines of log`,
  );
});

Deno.test("a one-shot receiver keeps listening through a reset storm", async () => {
  await using tmp = await tempDir();
  await using receiver = await startListening(["receive", "--out", tmp.path]);
  await resetStorm(receiver.port, { count: 2000, ms: 3000 });
  const sent = await within(
    30_000,
    "a sender after the storm",
    sendTo(receiver.port, join(TESTFILES, "one-byte.bin")),
  );
  assert.equal(sent.code, 0, sent.stderr);
  const received = await within(10_000, "the receiver", receiver.result());
  assert.equal(received.code, 0, received.stderr);
});

Deno.test("strangers holding more hello-only connections than any limit never make a real sender busy", async () => {
  await using tmp = await tempDir();
  await using receiver = await keepReceiver(tmp.path, "--max-connections", "2");
  const strangers: Deno.TcpConn[] = [];
  try {
    // More than the pool for unpaired peers (128) and than one address may hold (32).
    for (let i = 0; i < 200; i++) {
      strangers.push(await helloOnly(receiver.port));
    }
    const sent = await within(
      30_000,
      "a real sender among strangers",
      sendTo(receiver.port, join(TESTFILES, "all-bytes.bin")),
    );
    assert.equal(sent.code, 0, sent.stderr);
    // And again, while the strangers come back.
    for (let i = 0; i < 40; i++) strangers.push(await helloOnly(receiver.port));
    const again = await within(
      30_000,
      "a second real sender",
      sendTo(receiver.port, join(TESTFILES, "one-byte.bin")),
    );
    assert.equal(again.code, 0, again.stderr);
  } finally {
    for (const s of strangers) {
      try {
        s.close();
      } catch { /* dropped by the receiver */ }
    }
  }
  receiver.kill();
  const received = await within(10_000, "the receiver", receiver.result());
  const summaries = events(received.stdout).filter((e) =>
    e.event === "summary"
  );
  assert.equal(summaries.length, 2);
  // Strangers are neither connections worth announcing nor a flood of errors.
  const lines = received.stdout.split("\n").length +
    received.stderr.split("\n").length;
  assert.ok(lines < 60, `${lines} lines of output for 240 strangers`);
});

/** A paired sender that offers `entries` and answers nothing more. */
async function offerFrom(port: number, entries: Entry[]): Promise<Message> {
  using peer = await connectAsSender(port);
  return await offer(peer, entries);
}

Deno.test("a lone surrogate cannot stand for another sender's name: the second sender cannot replace a verified file", async () => {
  await using tmp = await tempDir();
  await using receiver = await keepReceiver(tmp.path);
  // The victim's name holds U+FFFD, which is what a lone surrogate is written as.
  using victim = await connectAsSender(receiver.port);
  const body = new TextEncoder().encode("the victim's report\n");
  const accepted = await offer(victim, [{
    path: "report\ufffd.txt",
    type: "file",
    size: body.length,
  }]);
  assert.equal(accepted.type, "accept");
  const attack = await within(
    10_000,
    "the attacker's answer",
    offerFrom(receiver.port, [{
      path: "report\ud800.txt",
      type: "file",
      size: 21,
    }]),
  );
  assert.equal(attack.type, "error");
  assert.equal(attack.type === "error" && attack.code, "unsafe-name");
  const sha256 = await sendBody(victim, 0, body);
  const ok = await within(10_000, "file-ok", victim.next());
  assert.equal(ok.type, "file-ok");
  await stop(receiver);
  assert.equal(
    await sha256File(join(tmp.path, "report\ufffd.txt")),
    sha256,
    "the file on disk is the victim's",
  );
});

Deno.test("names ending in .pasa.part are refused, so no entry can replace or delete a part file", async () => {
  await using tmp = await tempDir();
  const keep = join(tmp.path, "q.pasa.part");
  await Deno.writeTextFile(keep, "a user's own file");
  await using receiver = await keepReceiver(tmp.path, "--force");
  for (
    const entries of [
      [{ path: "big.bin.pasa.part", type: "file" as const, size: 33 }],
      [
        { path: "q.pasa.part", type: "file" as const, size: 1 },
        { path: "q", type: "file" as const, size: 1 },
      ],
      [{ path: "dir.PASA.PART/x", type: "file" as const, size: 1 }],
    ]
  ) {
    const answer = await offerFrom(receiver.port, entries);
    assert.equal(answer.type === "error" && answer.code, "unsafe-name");
  }
  await stop(receiver);
  assert.equal(await Deno.readTextFile(keep), "a user's own file");
});

Deno.test("a manifest thousands of levels deep is refused at once, and the receiver serves the next sender", async () => {
  await using tmp = await tempDir();
  await using receiver = await keepReceiver(tmp.path, "--timeout", "5");
  const deep = Array(2000).fill("a").join("/");
  const entries: Entry[] = [];
  for (let i = 0; i < 2000; i++) {
    entries.push({ path: `${deep}/${i}`, type: "file", size: 0 });
  }
  using peer = await connectAsSender(receiver.port);
  for (let i = 0; i < entries.length; i += 10) {
    await peer.send({
      type: "manifest",
      entries: entries.slice(i, i + 10),
      last: i + 10 >= entries.length,
    });
  }
  const answer = await within(10_000, "the verdict", peer.next());
  assert.equal(answer.type === "error" && answer.code, "unsafe-name");
  assert.match(answer.type === "error" ? answer.message : "", /levels deep/);
  await servesNext(receiver);
});

Deno.test("checkManifest() finds a file used as a directory deep among thousands of entries", () => {
  // The check sorts once instead of building every parent prefix of every
  // entry (quadratic in depth: that froze a receiver for minutes).
  const dir = Array(126).fill("d").join("/");
  const entries: Entry[] = [];
  for (let i = 0; i < 20_000; i++) {
    entries.push({ path: `${dir}/${i}`, type: "file", size: 1 });
  }
  assert.equal(checkManifest(entries).bytes, 20_000);
  entries.push({ path: `${dir}/777/inside`, type: "file", size: 1 });
  assert.throws(
    () => checkManifest(entries),
    /Manifest uses file .*\/777 as a directory/,
  );
  assert.throws(
    () => checkManifest([...entries.slice(0, 3), entries[1]!]),
    /lists .* twice/,
  );
  assert.throws(
    () =>
      checkManifest([
        { path: "Report.txt", type: "file", size: 1 },
        { path: "report.txt", type: "file", size: 1 },
      ], { fold: true }),
    /the same name on this receiver/,
  );
  assert.throws(
    () =>
      checkManifest([
        { path: "caf\u00e9", type: "dir" },
        { path: "cafe\u0301", type: "dir" },
      ], { fold: true }),
    /the same name on this receiver/,
  );
});

Deno.test("directories count toward --max-size, and none is created for a refused manifest", async () => {
  await using tmp = await tempDir();
  await using receiver = await keepReceiver(tmp.path, "--max-size", "1M");
  const dirs: Entry[] = [];
  for (let i = 0; i < 300; i++) dirs.push({ path: `d${i}`, type: "dir" });
  const answer = await offerFrom(receiver.port, dirs);
  assert.equal(answer.type === "error" && answer.code, "too-large");
  await stop(receiver);
  assert.deepEqual(await listTree(tmp.path), []);
});

Deno.test("a manifest over the memory a receiver allows is refused before it is all read", async (t) => {
  await using tmp = await tempDir();
  await using receiver = await keepReceiver(tmp.path);
  using peer = await connectAsSender(receiver.port);
  const long = "x".repeat(250);
  let answer: Message | undefined;
  // 4,000-byte paths, 15 to a frame: 256 MiB is passed after about 65,000.
  const reply = peer.next().then((m) => (answer = m));
  for (let i = 0; i < 8_000 && answer === undefined; i++) {
    const entries: Entry[] = [];
    for (let k = 0; k < 15; k++) {
      const n = i * 15 + k;
      const path =
        `${long}/${long}/${long}/${long}/${long}/${long}/${long}/${long}/${long}/${long}/${long}/${long}/${long}/${long}/${long}/${n}`;
      entries.push({ path, type: "file", size: 0 });
    }
    await peer.send({ type: "manifest", entries, last: false }).catch(() => {
      answer ??= { type: "error", code: "closed", message: "" };
    });
  }
  // A closed connection ends the reply too; a wait that runs out fails.
  await within(20_000, "the refusal", reply).catch((error) => {
    if (error instanceof StillWaiting) throw error;
  });
  assert.equal(answer?.type === "error" && answer.code, "too-large");
  const rss = await peakRss(receiver.pid);
  if (rss === null) {
    await t.step({
      name: "(the memory bound is skipped: /proc cannot be read here)",
      ignore: true,
      fn: () => {},
    });
  } else assert.ok(rss < 1.5e9, `peak RSS ${rss}`);
  await servesNext(receiver);
});

Deno.test("a file's mode is masked by the receiver's umask and keeps the owner's read and write", async () => {
  await using tmp = await tempDir();
  await using receiver = await keepReceiver(tmp.path);
  for (
    const [name, mode] of [["open.txt", 0o777], ["closed.txt", 0]] as const
  ) {
    using peer = await connectAsSender(receiver.port);
    const answer = await offer(peer, [{
      path: name,
      type: "file",
      size: 1,
      mode,
    }]);
    assert.equal(answer.type, "accept");
    await sendBody(peer, 0, new Uint8Array([7]));
    assert.equal(
      (await within(10_000, "file-ok", peer.next())).type,
      "file-ok",
    );
  }
  await stop(receiver);
  if (Deno.build.os === "windows") return;
  const umask = Deno.umask();
  const open = (await Deno.stat(join(tmp.path, "open.txt"))).mode! & 0o777;
  const closed = (await Deno.stat(join(tmp.path, "closed.txt"))).mode! & 0o777;
  assert.equal(open, 0o777 & ~umask);
  assert.equal(closed, 0o600);
});

Deno.test("an mtime past the year 9999 is a malformed manifest, not the year 1970", async () => {
  await using tmp = await tempDir();
  await using receiver = await startListening(["receive", "--out", tmp.path]);
  const answer = await offerFrom(receiver.port, [{
    path: "late.txt",
    type: "file",
    size: 1,
    mtime: 9e15,
  }]);
  assert.equal(answer.type === "error" && answer.code, "protocol");
  assert.match(answer.type === "error" ? answer.message : "", /mtime/);
  await within(10_000, "the receiver", receiver.result());
});

Deno.test("a stranger silent before pairing is timed out, and the one-shot receiver still takes its sender", async () => {
  await using tmp = await tempDir();
  await using receiver = await startListening([
    "receive",
    "--timeout",
    "0.5",
    "--out",
    tmp.path,
  ]);
  using conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: receiver.port,
  });
  await conn.write(new Uint8Array([0x50, 0x41])); // two bytes of a preamble, then nothing
  // Closed by the receiver's deadline, not by us.
  const buf = new Uint8Array(64);
  await within(
    10_000,
    "the receiver to drop the stranger",
    (async () => {
      while (await conn.read(buf) !== null) { /* its refusal, if any */ }
    })(),
  );
  const sent = await sendTo(receiver.port, join(TESTFILES, "one-byte.bin"));
  assert.equal(sent.code, 0, sent.stderr);
  const received = await within(10_000, "the receiver", receiver.result());
  assert.equal(received.code, 0, received.stderr);
  assert.match(received.stderr, /Connection timed out/);
  assert.deepEqual(await listTree(tmp.path), ["one-byte.bin"]);
});

Deno.test("a folder of 700 files sent again: taken unchanged by size and time, and with --check confirmed by SHA-256 and skipped", async () => {
  await using tmp = await tempDir();
  const src = join(tmp.path, "folder");
  await Deno.mkdir(src);
  for (let i = 0; i < 700; i++) {
    await Deno.writeTextFile(join(src, `file-${i}.txt`), `file ${i}\n`);
  }
  await using receiver = await keepReceiver(join(tmp.path, "out"));
  const first = await sendTo(receiver.port, src);
  assert.equal(first.code, 0, first.stderr);
  const second = await sendTo(receiver.port, src, "--json");
  assert.equal(second.code, 0, second.stderr);
  const said = events(second.stdout);
  assert.deepEqual(
    said.filter((e) => e.event === "unchanged").map((e) => e.files),
    [700],
  );
  assert.equal(said.filter((e) => e.event === "file").length, 0);
  const third = await sendTo(receiver.port, src, "--json", "--check");
  assert.equal(third.code, 0, third.stderr);
  const skipped = events(third.stdout).filter((e) => e.event === "skipped");
  assert.equal(skipped.length, 700);
  await stop(receiver);
});

Deno.test("a sender naming an existing file's size learns only its length, never its digest, and cannot replace it", async () => {
  await using tmp = await tempDir();
  const secret = join(tmp.path, "grades.txt");
  const content = "alice: 9\nbob: 4\n";
  await Deno.writeTextFile(secret, content);
  await using receiver = await keepReceiver(tmp.path);
  using peer = await connectAsSender(receiver.port);
  await peer.send({
    type: "manifest",
    entries: [{ path: "grades.txt", type: "file", size: content.length }],
    last: true,
  });
  const accept = await peer.nextRaw();
  assert.equal(accept.type, "accept");
  assert.equal(accept.offers, 1);
  const offer = await peer.nextRaw();
  assert.deepEqual(offer, {
    type: "resume-offer",
    index: 0,
    offset: content.length,
  });
  // A guess at the content: wrong, so the file is refused before any body,
  // and the refusal says only that it differs.
  const guess = "alice: 5\nbob: 4\n";
  await peer.send({
    type: "resume-claim",
    index: 0,
    offset: guess.length,
    sha256: createHash("sha256").update(guess).digest("hex"),
  });
  const refusal = await within(10_000, "the refusal", peer.next());
  assert.equal(refusal.type === "error" && refusal.code, "exists");
  assert.doesNotMatch(
    refusal.type === "error" ? refusal.message : "",
    /[0-9a-f]{64}/,
  );
  await stop(receiver);
  assert.equal(await Deno.readTextFile(secret), content);
});

Deno.test("a sender naming an existing file's size and time takes it as it is: nothing read, nothing replaced", async () => {
  await using tmp = await tempDir();
  const secret = join(tmp.path, "grades.txt");
  const content = "alice: 9\nbob: 4\n";
  await Deno.writeTextFile(secret, content);
  const mtime = (await Deno.stat(secret)).mtime!.getTime();
  await using receiver = await keepReceiver(tmp.path);
  using peer = await connectAsSender(receiver.port);
  await peer.send({
    type: "manifest",
    entries: [{
      path: "grades.txt",
      type: "file",
      size: content.length,
      mtime,
    }],
    last: true,
  });
  assert.equal((await peer.nextRaw()).offers, 1);
  assert.deepEqual(await peer.nextRaw(), {
    type: "resume-offer",
    index: 0,
    offset: content.length,
    unchanged: true,
  });
  await peer.send({
    type: "resume-claim",
    index: 0,
    offset: content.length,
    unchanged: true,
  });
  assert.deepEqual(await peer.next(), {
    type: "resume-answer",
    index: 0,
    offset: content.length,
    unchanged: true,
  });
  // No body, no file-end, no file-ok: the next frame is done.
  const done = await within(10_000, "done", peer.next());
  assert.deepEqual(
    done.type === "done" && [done.files, done.bytes],
    [1, content.length],
  );
  await stop(receiver);
  assert.equal(await Deno.readTextFile(secret), content);
});

Deno.test("claiming unchanged a file the receiver did not offer so is a protocol error", async () => {
  await using tmp = await tempDir();
  await Deno.writeTextFile(join(tmp.path, "notes.txt"), "mine\n");
  await using receiver = await keepReceiver(tmp.path);
  using peer = await connectAsSender(receiver.port);
  await peer.send({
    type: "manifest",
    // No mtime: the receiver can offer the file only to be hashed.
    entries: [{ path: "notes.txt", type: "file", size: 5 }],
    last: true,
  });
  assert.equal((await peer.nextRaw()).offers, 1);
  assert.equal((await peer.nextRaw()).unchanged, undefined);
  await peer.send({
    type: "resume-claim",
    index: 0,
    offset: 5,
    unchanged: true,
  });
  const refusal = await within(10_000, "the refusal", peer.next());
  assert.equal(refusal.type === "error" && refusal.code, "protocol");
  assert.match(
    refusal.type === "error" ? refusal.message : "",
    /claims file 0 unchanged at 5, which was not offered so/,
  );
  await stop(receiver);
  assert.equal(await Deno.readTextFile(join(tmp.path, "notes.txt")), "mine\n");
});

Deno.test("an unchanged claim at another offset than the unchanged offer's is a protocol error, and the file is kept", async () => {
  await using tmp = await tempDir();
  const notes = join(tmp.path, "notes.txt");
  await Deno.writeTextFile(notes, "mine\n");
  const mtime = (await Deno.stat(notes)).mtime!.getTime();
  await using receiver = await keepReceiver(tmp.path);
  using peer = await connectAsSender(receiver.port);
  await peer.send({
    type: "manifest",
    entries: [{ path: "notes.txt", type: "file", size: 5, mtime }],
    last: true,
  });
  assert.equal((await peer.nextRaw()).offers, 1);
  assert.equal((await peer.nextRaw()).unchanged, true);
  // Offered unchanged at 5: taken unchanged at 0 would skip a whole file
  // the sender never said was the same.
  await peer.send({
    type: "resume-claim",
    index: 0,
    offset: 0,
    unchanged: true,
  });
  const refusal = await within(10_000, "the refusal", peer.next());
  assert.equal(refusal.type === "error" && refusal.code, "protocol");
  assert.match(
    refusal.type === "error" ? refusal.message : "",
    /claims file 0 unchanged at 0, which was not offered so/,
  );
  await stop(receiver);
  assert.equal(await Deno.readTextFile(notes), "mine\n");
});

Deno.test("a claim at an offset the receiver never offered is a protocol error, and the part is kept", async () => {
  await using tmp = await tempDir();
  await Deno.writeFile(
    join(tmp.path, "big.bin.pasa.part"),
    new Uint8Array(100),
  );
  await using receiver = await keepReceiver(tmp.path);
  using peer = await connectAsSender(receiver.port);
  const accept = await offer(peer, [{
    path: "big.bin",
    type: "file",
    size: 1000,
  }]);
  assert.equal(accept.type === "accept" && accept.offers, 1);
  assert.deepEqual(await peer.next(), {
    type: "resume-offer",
    index: 0,
    offset: 100,
  });
  await peer.send({
    type: "resume-claim",
    index: 0,
    offset: 50,
    sha256: createHash("sha256").update(new Uint8Array(50)).digest("hex"),
  });
  const error = await within(10_000, "the error", peer.next());
  assert.match(error.type === "error" ? error.message : "", /not offered/);
  await stop(receiver);
  assert.equal(
    (await Deno.stat(join(tmp.path, "big.bin.pasa.part"))).size,
    100,
  );
});

Deno.test("a destination that folds names keeps Report.txt and report.txt apart across transfers", async () => {
  await using tmp = await tempDir();
  const dest = new Destination(tmp.path, { foldNames: true });
  await dest.prepare();
  const first = [{ path: "Report.txt", type: "file" as const, size: 3 }];
  await dest.vet(first);
  await assert.rejects(
    dest.vet([{ path: "report.txt", type: "file", size: 21 }]),
    (e: unknown) => e instanceof RefusedError && e.code === "busy",
  );
  await assert.rejects(
    dest.vet([{ path: "R\u00e9port.txt", type: "file", size: 1 }, {
      path: "Re\u0301PORT.txt",
      type: "file",
      size: 1,
    }]),
    /the same name on this receiver/,
  );
  dest.release(first);
  await dest.vet([{ path: "report.txt", type: "file", size: 21 }]);
});

Deno.test("prepare() finds that this test machine's temporary directory does not fold names", async () => {
  await using tmp = await tempDir();
  const dest = new Destination(tmp.path);
  await dest.prepare();
  // Linux file systems compare names byte for byte (no casefold here).
  if (Deno.build.os === "linux") assert.equal(dest.foldNames, false);
  assert.deepEqual(await listTree(tmp.path), [], "the probe is gone");
});

Deno.test("a part file swapped for a symbolic link mid-transfer is never followed: no chmod, no rename", async () => {
  await using tmp = await tempDir();
  const out = join(tmp.path, "out");
  const outside = join(tmp.path, "outside.txt");
  await Deno.writeTextFile(outside, "not pasa's");
  await Deno.chmod(outside, 0o600);
  const dest = new Destination(out);
  await dest.prepare();
  const part = await dest.open("f.txt", { mode: 0o777 });
  await part.write(new TextEncoder().encode("data"));
  // A local user swaps the part for a link to a file outside --out.
  await Deno.remove(dest.partPath("f.txt"));
  await Deno.symlink(outside, dest.partPath("f.txt"));
  await assert.rejects(
    part.commit({ mode: 0o777 }),
    /was replaced or removed while it was received/,
  );
  assert.equal((await Deno.stat(outside)).mode! & 0o777, 0o600);
  assert.equal(await Deno.readTextFile(outside), "not pasa's");
  assert.equal(
    await Deno.lstat(join(out, "f.txt")).then(() => true, () => false),
    false,
  );
});

Deno.test("a name too long for NAME.pasa.part gets a part name of its own, under 255 bytes, and arrives", async () => {
  await using tmp = await tempDir();
  const name = "\u00e9".repeat(127); // 254 bytes of UTF-8
  const dest = new Destination(tmp.path);
  assert.ok(
    new TextEncoder().encode(dest.partPath(name).split("/").at(-1)!).length <=
      255,
  );
  assert.notEqual(dest.partPath(name), dest.partPath("\u00e9".repeat(126)));
  const src = join(tmp.path, "src");
  await Deno.mkdir(src);
  await Deno.writeTextFile(join(src, name), "long name\n");
  await using receiver = await keepReceiver(join(tmp.path, "out"));
  const sent = await sendTo(receiver.port, join(src, name));
  assert.equal(sent.code, 0, sent.stderr);
  await stop(receiver);
  assert.deepEqual(await listTree(join(tmp.path, "out")), [name]);
});

Deno.test("directory creation stops when the receiver is interrupted, rather than making them all", async () => {
  await using tmp = await tempDir();
  const out = join(tmp.path, "out");
  await using receiver = await keepReceiver(out);
  const total = 40_000;
  const entries: Entry[] = [];
  for (let i = 0; i < total; i++) entries.push({ path: `d${i}`, type: "dir" });
  using peer = await connectAsSender(receiver.port);
  for (let i = 0; i < total; i += 1000) {
    await peer.send({
      type: "manifest",
      entries: entries.slice(i, i + 1000),
      last: i + 1000 >= total,
    });
  }
  // Once creation has begun, Ctrl-C.
  const began = performance.now();
  while (performance.now() - began < 20_000) {
    const some = await Deno.readDir(out)[Symbol.asyncIterator]().next()
      .catch(() => ({ done: true }));
    if (!some.done) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  receiver.kill("SIGINT");
  await within(20_000, "the interrupted receiver", receiver.result());
  let made = 0;
  for await (const _ of Deno.readDir(out)) made++;
  assert.ok(made > 0 && made < total, `${made} of ${total} directories made`);
});

Deno.test("two senders pairing at once for the last slot: one is served, the other is told busy", async () => {
  await using tmp = await tempDir();
  await using receiver = await keepReceiver(
    tmp.path,
    "--max-connections",
    "1",
  );
  // Both hold their pairing open until both were admitted (each has the
  // receiver's confirmation): then both finish it, for one slot.
  let arrived = 0;
  let bothThere = () => {};
  const barrier = new Promise<void>((r) => (bothThere = r));
  const beforeConfirm = async () => {
    if (++arrived === 2) bothThere();
    await barrier;
  };
  const settled = await within(
    20_000,
    "both pairings",
    Promise.allSettled([
      connectAsSender(receiver.port, { beforeConfirm }),
      connectAsSender(receiver.port, { beforeConfirm }),
    ]),
  );
  const kinds = await Promise.all(settled.map(async (s) => {
    if (s.status === "rejected") return (s.reason as PasaError).code;
    using peer = s.value;
    const answer = await within(
      10_000,
      "an answer",
      offer(peer, [{ path: "x.txt", type: "file", size: 1 }]),
    );
    return answer.type === "error" ? answer.code : answer.type;
  }));
  assert.deepEqual(kinds.sort(), ["accept", "busy"]);
  await stop(receiver);
});

Deno.test("a sender in the middle of pairing is not the one dropped when strangers flood its address", async () => {
  await using tmp = await tempDir();
  await using receiver = await keepReceiver(tmp.path);
  const strangers: Deno.TcpConn[] = [];
  let flooded = () => {};
  const pairing = connectAsSender(receiver.port, {
    // The receiver has its share and has answered: flood, then confirm.
    beforeConfirm: async () => {
      for (let i = 0; i < 48; i++) {
        strangers.push(await helloOnly(receiver.port));
      }
      // Give the receiver time to take (and drop) them all.
      await new Promise((r) => setTimeout(r, 300));
      flooded();
    },
  });
  const done = new Promise<void>((r) => (flooded = r));
  try {
    await within(20_000, "the flood", done);
    using peer = await within(20_000, "the pairing", pairing);
    const answer = await within(
      10_000,
      "an answer",
      offer(peer, [{ path: "x.txt", type: "file", size: 1 }]),
    );
    assert.equal(answer.type, "accept");
  } finally {
    for (const s of strangers) {
      try {
        s.close();
      } catch { /* dropped */ }
    }
  }
  await stop(receiver);
});

for (const insecure of [false, true]) {
  Deno.test(
    `replayed datagrams do not keep a stalled UDP transfer alive past --timeout${
      insecure ? " (--insecure)" : ""
    }`,
    async () => {
      await using tmp = await tempDir();
      await using receiver = await keepReceiver(
        tmp.path,
        "--udp",
        "--timeout",
        "1",
        ...(insecure ? ["--insecure"] : []),
      );
      using peer = await connectAsSender(receiver.port, { insecure });
      await peer.send({
        type: "udp-request",
        datagramSize: 1472,
        lossy: false,
      });
      const accept = await offer(peer, [{
        path: "u.bin",
        type: "file",
        size: 100_000,
      }]);
      assert.ok(accept.type === "accept" && accept.udp, JSON.stringify(accept));
      // One genuine, sealed datagram, then the same one again and again.
      const payload = slotPayload(1472, !insecure);
      const datagram = new Uint8Array(1472);
      writeHeader(datagram, {
        transfer: accept.udp.transfer,
        index: 0,
        sequence: 0,
        offset: 0,
        sentMicros: 0,
      });
      const length = insecure
        ? 40 + payload
        : sealDatagram(peer.link.datagramKeys!.out, datagram, payload);
      const socket = Deno.listenDatagram({
        hostname: "127.0.0.1",
        port: 0,
        transport: "udp",
      });
      const to: Deno.NetAddr = {
        transport: "udp",
        hostname: "127.0.0.1",
        port: receiver.port,
      };
      let verdict: string | undefined;
      // Reports come and go; a receiver that timed out closes the connection.
      (async () => {
        for (;;) {
          const m = await peer.next();
          if (m.type !== "udp-report") return (verdict = m.type);
        }
      })().catch(() => (verdict = "closed"));
      const started = performance.now();
      while (verdict === undefined && performance.now() - started < 6_000) {
        await socket.send(datagram.subarray(0, length), to);
        await new Promise((r) => setTimeout(r, 20));
      }
      socket.close();
      assert.equal(
        verdict,
        "closed",
        "the receiver dropped the stalled transfer",
      );
      const received = await stop(receiver);
      assert.ok(
        events(received.stdout).some((e) =>
          e.event === "error" && e.code === "timeout"
        ),
        received.stdout,
      );
    },
  );
}

Deno.test("a paired peer with another token (or none) cannot take over a session that holds the names it asks for: it is refused busy", async () => {
  await using tmp = await tempDir();
  await using receiver = await keepReceiver(tmp.path);
  const entries = [{ path: "x.txt", type: "file" as const, size: 1 }];
  using holder = await connectAsSender(receiver.port);
  await holder.send({
    type: "manifest",
    entries,
    last: true,
    token: "a".repeat(32),
  });
  assert.equal(
    (await within(10_000, "the accept", holder.next())).type,
    "accept",
  );
  for (const token of ["b".repeat(32), undefined]) {
    using other = await connectAsSender(receiver.port);
    await other.send({
      type: "manifest",
      entries,
      last: true,
      ...(token ? { token } : {}),
    });
    const answer = await within(10_000, "the refusal", other.next());
    assert.equal(answer.type === "error" && answer.code, "busy");
  }
  // The holder's session is untouched: its body still lands.
  await sendBody(holder, 0, new Uint8Array([42]));
  const ok = await within(10_000, "file-ok", holder.next());
  assert.equal(ok.type, "file-ok");
  await stop(receiver);
  assert.deepEqual(
    await Deno.readFile(join(tmp.path, "x.txt")),
    new Uint8Array([42]),
  );
});

/** Writes `bytes` to a new connection to `port`, reads until it closes (at most 10 s). */
async function strangerSays(port: number, bytes: Uint8Array): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(bytes);
    const buf = new Uint8Array(4096);
    await within(
      10_000,
      "the listener to let the stranger go",
      (async () => {
        while (await conn.read(buf).catch(() => null) !== null) {
          // its preamble, hello and error, until it closes
        }
      })(),
    );
  } finally {
    conn.close();
  }
}

/** A preamble of protocol version 2: `PASA`, 2, and zero flags. */
const VERSION_TWO = new Uint8Array([0x50, 0x41, 0x53, 0x41, 0, 2, 0, 0]);
/** A stranger's preamble and hello as a sender: no code, nothing after. */
const SENDER_HELLO = concat(
  encodePreamble(),
  encodeControl({
    type: "hello",
    role: "sender",
    software: "stranger",
    security: ["spake2-p256-chacha20poly1305"],
  }),
);

for (
  const [who, listening, stranger] of [
    ["send --listen", "sender", "a hello with role sender"],
    ["send --listen", "sender", "another protocol version"],
    ["a one-shot receive", "receiver", "another protocol version"],
  ] as const
) {
  Deno.test(`${stranger} does not end ${who}: only a failed pairing may; its peer still gets through`, async () => {
    await using tmp = await tempDir();
    await using waiting = await startListening(
      listening === "sender"
        ? ["send", join(TESTFILES, "one-byte.bin"), "--listen"]
        : ["receive", "--out", tmp.path],
    );
    await strangerSays(
      waiting.port,
      stranger === "another protocol version" ? VERSION_TWO : SENDER_HELLO,
    );
    const peer = listening === "sender"
      ? await runPasa([
        ...["receive", "--from", `127.0.0.1:${waiting.port}`],
        ...["--out", tmp.path],
      ])
      : await sendTo(waiting.port, join(TESTFILES, "one-byte.bin"));
    assert.equal(peer.code, 0, peer.stderr);
    assert.equal((await waiting.result()).code, 0);
  });
}

Deno.test("a hundred strangers at send --listen make a few lines, not a hundred, and its receiver still gets through", async () => {
  await using tmp = await tempDir();
  await using waiting = await startListening(
    ["send", join(TESTFILES, "one-byte.bin"), "--listen"],
  );
  for (let i = 0; i < 100; i++) await strangerSays(waiting.port, VERSION_TWO);
  const peer = await runPasa([
    ...["receive", "--from", `127.0.0.1:${waiting.port}`],
    ...["--out", tmp.path],
  ]);
  assert.equal(peer.code, 0, peer.stderr);
  const said = await waiting.result();
  assert.equal(said.code, 0);
  const lines = said.stdout.split("\n").filter((l) =>
    l.includes("failed before pairing")
  );
  assert.ok(lines.length <= 20, `${lines.length} lines about strangers`);
  assert.ok(lines.length >= 1, "strangers are still said");
});

Deno.test("a sender that names a huge file already here and hangs up does not leave the receiver hashing it for nobody", async () => {
  await using tmp = await tempDir();
  // 64 GiB of holes: about half a minute of SHA-256 here.
  const huge = join(tmp.path, "huge.bin");
  const size = 64 * 2 ** 30;
  using file = await Deno.open(huge, { write: true, create: true });
  await file.truncate(size);
  await using receiver = await startListening(["receive", "--out", tmp.path]);
  {
    using peer = await connectAsSender(receiver.port);
    // No mtime: the receiver must hash it to offer it.
    await peer.send({
      type: "manifest",
      entries: [{ path: "huge.bin", type: "file", size }],
      last: true,
    });
  } // and gone
  const ended = await within(
    10_000,
    "the receiver to notice that the sender went away",
    receiver.result(),
  );
  assert.equal(ended.code, 1);
  assert.match(
    ended.stderr,
    /went away while the files already here were checked/,
  );
});

for (
  const [rate, size] of [[0, 1 << 20], [1, 1 << 20], [1e6, 1 << 30]] as const
) {
  Deno.test(`a bench --reverse request at ${rate} bit/s for ${size} bytes is refused before anything is sent: no slot held for ever`, async () => {
    await using tmp = await tempDir();
    await using receiver = await startListening([
      ...["receive", "--keep", "--udp", "--max-connections", "1"],
      ...["--out", tmp.path],
    ]);
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: receiver.port,
    });
    const link = new Link(conn, {
      timeoutMs: 0,
      pairing: { code: TEST_CODE, initiator: true },
    });
    try {
      const reader = new FrameReader(link);
      await handshake(link, reader, "receiver", { sameRole: true });
      await writeControl(link, {
        type: "bench-request",
        size,
        durationMs: null,
        udp: { datagramSize: 1472, lossy: true, rate, port: 9 },
      });
      const answer = await within(10_000, "the answer", reader.readControl());
      assert.equal(answer.type === "error" && answer.code, "bench");
      assert.match(
        answer.type === "error" ? answer.message : "",
        /rate must be at least 100 kbit\/s/,
      );
    } finally {
      link.close();
    }
    // Its one slot is free again: a real sender gets through.
    await servesNext(receiver);
  });
}

Deno.test("a UDP measurement of 7 TiB (2^34 slots) is refused at once: nothing stored means no free space to bound it", async () => {
  await using tmp = await tempDir();
  await using receiver = await keepReceiver(tmp.path, "--udp");
  {
    using peer = await connectAsSender(receiver.port);
    await peer.send({ type: "bench", pattern: "0".repeat(64) });
    await peer.send({ type: "udp-request", datagramSize: 512, lossy: false });
    const answer = await within(
      10_000,
      "the refusal",
      offer(peer, [{
        path: "pasa-bench.bin",
        type: "file",
        size: 2 ** 34 * (512 - 56),
      }]),
    );
    assert.equal(answer.type === "error" && answer.code, "too-large");
    assert.match(
      answer.type === "error" ? answer.message : "",
      /Refusing a measurement of 7\.\d+ TiB: at most 64\.0 GiB/,
    );
  }
  await servesNext(receiver);
});

Deno.test("a sender that lies about the slots past a UDP prefix (a digest that is not theirs) keeps the prefix and gets no ranges", async () => {
  await using tmp = await tempDir();
  const slot = 1472 - 56; // a sealed one-slot datagram's payload
  const size = 10 * slot;
  // What an interrupted UDP transfer left: slots 0-1, a hole at 2, slots 3-4.
  const part = new Uint8Array(5 * slot).fill(7);
  part.fill(0, 2 * slot, 3 * slot);
  await Deno.writeFile(join(tmp.path, "holes.bin.pasa.part"), part);
  await using receiver = await keepReceiver(tmp.path, "--udp");
  {
    using peer = await connectAsSender(receiver.port);
    await peer.send({ type: "udp-request", datagramSize: 1472, lossy: false });
    const accept = await offer(peer, [{
      path: "holes.bin",
      type: "file",
      size,
    }]);
    assert.equal(accept.type === "accept" && accept.offers, 1);
    const offered = await peer.nextRaw();
    assert.deepEqual(
      [offered.offset, offered.ranges],
      [2 * slot, [[3 * slot, 2 * slot]]],
    );
    const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
    await peer.send({
      type: "resume-claim",
      index: 0,
      offset: 2 * slot,
      sha256: sha(part.subarray(0, 2 * slot)),
      rangesSha256: sha(new Uint8Array(2 * slot).fill(8)), // not what it holds
    });
    const answer = await within(10_000, "the answer", peer.nextRaw());
    assert.deepEqual(
      [answer.type, answer.offset, answer.ranges],
      ["resume-answer", 2 * slot, undefined],
    );
  }
  await stop(receiver);
});

Deno.test("a receiver gives back the memory of every manifest it held: after transfers that land, clash and are cut, none is held", async () => {
  await using tmp = await tempDir();
  const { receiveSession } = await import("../lib/receive.ts");
  const { sendSession } = await import("../lib/send.ts");
  const { Destination } = await import("../lib/fsio.ts");
  let held = 0;
  const budget = {
    take: (bytes: number) => {
      held += bytes;
      return true;
    },
    give: (bytes: number) => {
      held -= bytes;
    },
  };
  const dest = new Destination(join(tmp.path, "out"));
  await dest.prepare();
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  for (let i = 0; i < 12; i++) {
    // Three kinds: a new file, the same name with other bytes (a clash),
    // and a sender that hangs up after its list.
    const kind = i % 3;
    const [inbound, outbound] = await Promise.all([
      listener.accept(),
      Deno.connect({ hostname: "127.0.0.1", port }),
    ]);
    const rLink = new Link(inbound, { timeoutMs: 5000 });
    const sLink = new Link(outbound, { timeoutMs: 5000 });
    const name = `f${Math.floor(i / 3)}.txt`;
    const local = join(tmp.path, `${i}-${name}`);
    await Deno.writeTextFile(local, kind === 1 ? "other" : "bytes");
    const entry = { path: name, type: "file" as const, size: 5 };
    const receiving = receiveSession(rLink, dest, { budget }).catch(() => {});
    if (kind === 2) {
      const reader = new FrameReader(sLink);
      await handshake(sLink, reader, "sender");
      await writeControl(sLink, {
        type: "manifest",
        entries: [entry],
        last: true,
      });
      sLink.close();
    } else {
      await sendSession(sLink, [{ entry, local }]).catch(() => {});
    }
    await within(10_000, "the receiver", receiving);
    rLink.close();
    sLink.close();
    assert.equal(held, 0, `after transfer ${i}: ${held} bytes still held`);
  }
});

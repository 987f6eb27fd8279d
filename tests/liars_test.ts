/**
 * Every check one side makes of the other, with the lie planted: a scripted
 * receiver lies to the real `pasa send`, and a paired sender lies to the
 * real `pasa receive` after its manifest. Each test fails if the check it
 * is about is removed. Every wait is bounded.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import {
  listTree,
  runPasa,
  type RunResult,
  sendTo,
  startListening,
  StillWaiting,
  tempDir,
  TESTFILES,
  within,
} from "./helpers.ts";
import {
  chunkFrame,
  connectAsSender,
  connectRaw,
  listenAsReceiver,
  offer,
  type Peer,
  readBody,
  sendBody,
} from "./peer.ts";

/**
 * Runs the real `pasa send FILES` against a scripted receiver; `script`
 * plays the receiver's side and returns when it has said its lie.
 */
async function sendToLiar(
  files: string[],
  script: (peer: Peer) => Promise<void>,
): Promise<RunResult> {
  using liar = listenAsReceiver();
  const sending = runPasa([
    "send",
    ...files,
    "--timeout",
    "10",
    "--to",
    `127.0.0.1:${liar.port}`,
  ]);
  {
    using peer = await within(20_000, "the sender to connect", liar.accept());
    await within(20_000, "the scripted receiver", script(peer));
    // Leave the sender time to read the lie before the connection closes.
    await within(20_000, "the sender", sending);
  }
  return await sending;
}

/** Reads the manifest, accepts it, and reads the one file's body and file-end. */
async function takeOneFile(peer: Peer) {
  const manifest = await peer.next();
  assert.equal(manifest.type, "manifest");
  await peer.send({ type: "accept", security: "spake2-p256-chacha20poly1305" });
  const body = await readBody(peer);
  const end = await peer.next();
  assert.equal(end.type, "file-end");
  return { body, end: end as { sha256: string; size: number } };
}

const ALL_BYTES = join(TESTFILES, "all-bytes.bin");

Deno.test("the sender refuses a file-ok whose digest is not the one it sent", async () => {
  const sent = await sendToLiar([ALL_BYTES], async (peer) => {
    await takeOneFile(peer);
    await peer.send({ type: "file-ok", index: 0, sha256: "0".repeat(64) });
    await peer.send({ type: "done", files: 1, bytes: 256 });
  });
  assert.equal(sent.code, 1, sent.stderr);
  assert.match(sent.stderr, /with a digest that was not sent/);
});

Deno.test("the sender refuses a done that confirms fewer files than it sent", async () => {
  const sent = await sendToLiar([ALL_BYTES], async (peer) => {
    await takeOneFile(peer);
    await peer.send({ type: "done", files: 0, bytes: 0 });
  });
  assert.equal(sent.code, 1, sent.stderr);
  assert.match(sent.stderr, /done after confirming 0 of 1 files/);
});

Deno.test("the sender refuses a file-ok for a file it never sent", async () => {
  const sent = await sendToLiar([ALL_BYTES], async (peer) => {
    const { end } = await takeOneFile(peer);
    await peer.send({ type: "file-ok", index: 0, sha256: end.sha256 });
    await peer.send({ type: "file-ok", index: 1, sha256: end.sha256 });
    await peer.send({ type: "done", files: 2, bytes: 512 });
  });
  assert.equal(sent.code, 1, sent.stderr);
  assert.match(sent.stderr, /confirmed file 1 with a digest that was not sent/);
});

/** Takes the manifest, offers the first `offset` bytes of file 0, returns the claim. */
async function offerPrefix(peer: Peer, offset: number) {
  await peer.next(); // manifest
  await peer.send({
    type: "accept",
    security: "spake2-p256-chacha20poly1305",
    offers: 1,
  });
  await peer.send({ type: "resume-offer", index: 0, offset });
  return await peer.next();
}

Deno.test("the sender refuses to resume at an offset it never claimed", async () => {
  const sent = await sendToLiar([ALL_BYTES], async (peer) => {
    const claim = await offerPrefix(peer, 100);
    assert.equal(claim.type === "resume-claim" && claim.offset, 100);
    await peer.send({ type: "resume-answer", index: 0, offset: 200 });
  });
  assert.equal(sent.code, 1, sent.stderr);
  assert.match(sent.stderr, /resumes file 0 at 200, which was not claimed/);
});

Deno.test("the sender claims an offered prefix with the digest of its own bytes, and sends the rest", async () => {
  const whole = await Deno.readFile(ALL_BYTES);
  let rest: Uint8Array = new Uint8Array(0);
  const sent = await sendToLiar([ALL_BYTES], async (peer) => {
    const claim = await offerPrefix(peer, 100);
    assert.deepEqual(claim, {
      type: "resume-claim",
      index: 0,
      offset: 100,
      sha256: createHash("sha256").update(whole.subarray(0, 100)).digest(
        "hex",
      ),
    });
    await peer.send({ type: "resume-answer", index: 0, offset: 100 });
    rest = await readBody(peer);
    const end = await peer.next();
    assert.equal(end.type === "file-end" && end.size, whole.length);
    await peer.send({
      type: "file-ok",
      index: 0,
      sha256: end.type === "file-end" ? end.sha256 : "",
    });
    await peer.send({ type: "done", files: 1, bytes: whole.length });
  });
  assert.equal(sent.code, 0, sent.stderr);
  assert.deepEqual(rest, whole.subarray(100));
});

/** A one-shot receiver into a new directory, and a paired sender to it. */
async function lieToReceiver(
  lie: (peer: Peer) => Promise<void>,
): Promise<{ code: number; stderr: string; tree: string[] }> {
  await using tmp = await tempDir();
  await using receiver = await startListening(["receive", "--out", tmp.path]);
  {
    using peer = await connectAsSender(receiver.port);
    await within(20_000, "the lie", lie(peer));
    // The receiver's verdict, then it closes.
    await within(20_000, "the receiver's verdict", peer.next()).catch(
      (error) => {
        if (error instanceof StillWaiting) throw error; // it never answered
      },
    );
  }
  const result = await within(20_000, "the receiver", receiver.result());
  return {
    code: result.code,
    stderr: result.stderr,
    tree: await listTree(tmp.path),
  };
}

const body = new TextEncoder().encode("twelve bytes");

Deno.test("the receiver refuses a file-end for another file's index", async () => {
  const r = await lieToReceiver(async (peer) => {
    await offer(peer, [
      { path: "a.txt", type: "file", size: body.length },
      { path: "b.txt", type: "file", size: body.length },
    ]);
    await sendBody(peer, 1, body);
  });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /Expected file-end for file 0, got file-end/);
  assert.deepEqual(r.tree, []);
});

Deno.test("the receiver refuses a file-end whose size is not what arrived", async () => {
  const r = await lieToReceiver(async (peer) => {
    await offer(peer, [{ path: "a.txt", type: "file", size: null }]);
    await peer.write(chunkFrame(body));
    await peer.write(new Uint8Array(4));
    await peer.send({
      type: "file-end",
      index: 0,
      size: body.length + 1,
      sha256: createHash("sha256").update(body).digest("hex"),
    });
  });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /declared 13 bytes .* but sent 12/);
  assert.deepEqual(r.tree, []);
});

Deno.test("the receiver refuses a digest that is not what arrived: exit 3, no file", async () => {
  const r = await lieToReceiver(async (peer) => {
    await offer(peer, [{ path: "a.txt", type: "file", size: body.length }]);
    await peer.write(chunkFrame(body));
    await peer.write(new Uint8Array(4));
    await peer.send({
      type: "file-end",
      index: 0,
      size: body.length,
      sha256: "1".repeat(64),
    });
  });
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /SHA-256 mismatch for a.txt/);
  assert.deepEqual(r.tree, []);
});

Deno.test("unsafe names are refused for directory entries too, and nothing is made outside --out", async () => {
  await using tmp = await tempDir();
  const out = join(tmp.path, "out");
  await using receiver = await startListening([
    "receive",
    "--keep",
    "--out",
    out,
  ]);
  for (const path of ["../escaped-dir", "a/../../escaped-dir", "/abs-dir"]) {
    using peer = await connectAsSender(receiver.port);
    const answer = await offer(peer, [{ path, type: "dir" }]);
    assert.equal(answer.type === "error" && answer.code, "unsafe-name", path);
  }
  receiver.kill();
  await within(10_000, "the receiver", receiver.result());
  assert.deepEqual(await listTree(tmp.path), ["out/"]);
});

Deno.test("pairings that fail before cB goes out do not count toward the lock-out", async () => {
  await using tmp = await tempDir();
  await using receiver = await startListening([
    "receive",
    "--keep",
    "--out",
    tmp.path,
  ]);
  // A share that is not a point of the curve: refused before any guess can be tested.
  const bad = "04" + "11".repeat(64);
  for (let i = 0; i < 8; i++) {
    using peer = await connectRaw(receiver.port);
    await peer.send({ type: "pake", share: bad });
    await within(10_000, "the refusal", peer.drain());
  }
  const sent = await sendTo(receiver.port, ALL_BYTES);
  assert.equal(sent.code, 0, sent.stderr);
  receiver.kill();
  const received = await within(10_000, "the receiver", receiver.result());
  assert.equal(received.code, 0, received.stderr);
});

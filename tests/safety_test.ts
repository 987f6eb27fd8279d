import assert from "node:assert/strict";
import { join } from "node:path";
import { encodePreamble } from "../lib/protocol.ts";
import {
  events,
  listTree,
  runPasa,
  sendTo,
  startListening,
  tempDir,
  TESTFILES,
} from "./helpers.ts";
import { chunkFrame, connectAsSender, encodeControl, offer } from "./peer.ts";

const UNSAFE = [
  "/etc/passwd",
  "../escape.txt",
  "a/../../escape.txt",
  "dir\\file.txt",
  "C:evil.txt",
  "nul\u0000.txt",
  "esc\u001b[2J.txt",
  "tab\there.txt",
  "./dot.txt",
  "trailing/",
];

Deno.test("every unsafe name is refused with unsafe-name and nothing is written anywhere", async () => {
  await using tmp = await tempDir();
  const out = join(tmp.path, "out");
  await using receiver = await startListening([
    "receive",
    "--keep",
    "--out",
    out,
  ]);
  for (const path of UNSAFE) {
    using peer = await connectAsSender(receiver.port);
    const answer = await offer(peer, [{ path, type: "file", size: 1 }]);
    assert.equal(answer.type, "error", path);
    assert.equal(answer.type === "error" && answer.code, "unsafe-name", path);
    if (answer.type === "error") {
      // deno-lint-ignore no-control-regex
      assert.doesNotMatch(answer.message, /[\u0000-\u001f]/);
    }
  }
  receiver.kill();
  const received = await receiver.result();
  assert.doesNotMatch(
    received.stderr,
    // deno-lint-ignore no-control-regex
    /\u001b/,
    "names are escaped before printing",
  );
  assert.equal(
    events(received.stdout).filter((e) => e.code === "unsafe-name").length,
    UNSAFE.length,
  );
  assert.deepEqual(await listTree(tmp.path), ["out/"]);
});

Deno.test("a one-shot receiver refusing an unsafe name exits 4", async () => {
  await using tmp = await tempDir();
  await using receiver = await startListening(["receive", "--out", tmp.path]);
  using peer = await connectAsSender(receiver.port);
  await offer(peer, [{ path: "../x", type: "file", size: 1 }]);
  peer.conn.close();
  assert.equal((await receiver.result()).code, 4);
});

Deno.test("a symbolic link in the output directory is never followed, even with --force", async () => {
  await using tmp = await tempDir();
  const out = join(tmp.path, "out");
  const elsewhere = join(tmp.path, "elsewhere");
  await Deno.mkdir(out);
  await Deno.mkdir(elsewhere);
  await Deno.symlink(elsewhere, join(out, "nested"));
  await Deno.symlink(join(elsewhere, "target.txt"), join(out, "one-byte.bin"));
  await using receiver = await startListening([
    "receive",
    "--keep",
    "--force",
    "--out",
    out,
  ]);
  const to = `127.0.0.1:${receiver.port}`;
  const dir = await runPasa(["send", join(TESTFILES, "nested"), "--to", to]);
  assert.equal(dir.code, 4);
  assert.match(dir.stderr, /nested is a symbolic link/);
  const file = await runPasa([
    "send",
    join(TESTFILES, "one-byte.bin"),
    "--to",
    to,
  ]);
  assert.equal(file.code, 4);
  receiver.kill();
  await receiver.result();
  assert.deepEqual(await listTree(elsewhere), []);
});

Deno.test("more bytes than declared is a protocol error and leaves no file", async () => {
  await using tmp = await tempDir();
  await using receiver = await startListening(["receive", "--out", tmp.path]);
  using peer = await connectAsSender(receiver.port);
  const answer = await offer(peer, [{
    path: "short.bin",
    type: "file",
    size: 10,
  }]);
  assert.equal(answer.type, "accept");
  await peer.write(chunkFrame(new Uint8Array(20)));
  const error = await peer.next();
  assert.equal(error.type, "error");
  assert.match(
    error.type === "error" ? error.message : "",
    /more than the 10 bytes it declared/,
  );
  peer.conn.close();
  const received = await receiver.result();
  assert.equal(received.code, 1);
  assert.deepEqual(await listTree(tmp.path), []);
});

Deno.test("fewer bytes than declared is a protocol error and leaves no file", async () => {
  await using tmp = await tempDir();
  await using receiver = await startListening(["receive", "--out", tmp.path]);
  using peer = await connectAsSender(receiver.port);
  await offer(peer, [{ path: "short.bin", type: "file", size: 10 }]);
  await peer.write(chunkFrame(new Uint8Array(5)));
  await peer.write(new Uint8Array(4)); // end of body after 5 of 10 bytes
  const error = await peer.next();
  assert.match(
    error.type === "error" ? error.message : "",
    /ended after 5 of 10 bytes/,
  );
  peer.conn.close();
  assert.equal((await receiver.result()).code, 1);
  assert.deepEqual(await listTree(tmp.path), []);
});

Deno.test("a manifest listing a name twice is refused", async () => {
  await using tmp = await tempDir();
  await using receiver = await startListening(["receive", "--out", tmp.path]);
  using peer = await connectAsSender(receiver.port);
  const answer = await offer(peer, [
    { path: "a", type: "file", size: 1 },
    { path: "a", type: "file", size: 1 },
  ]);
  assert.match(answer.type === "error" ? answer.message : "", /lists a twice/);
  peer.conn.close();
  assert.equal((await receiver.result()).code, 1);
});

Deno.test("garbage and oversized frames get protocol errors while receive --keep serves others", async () => {
  await using tmp = await tempDir();
  await using receiver = await startListening([
    "receive",
    "--keep",
    "--out",
    tmp.path,
  ]);
  const port = receiver.port;
  // An HTTP client that wandered in.
  {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(
      new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    );
    const buf = new Uint8Array(1024);
    while (await conn.read(buf) !== null) { /* until the receiver hangs up */ }
  }
  // A valid preamble, then a control frame claiming 2 GiB.
  {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(encodePreamble());
    await conn.write(new Uint8Array([0x7f, 0xff, 0xff, 0xff]));
    const buf = new Uint8Array(1024);
    while (await conn.read(buf) !== null) { /* until the receiver hangs up */ }
  }
  // A hello that is not JSON.
  {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(encodePreamble());
    await conn.write(chunkFrame(new TextEncoder().encode("{not json")));
    const buf = new Uint8Array(1024);
    while (await conn.read(buf) !== null) { /* until the receiver hangs up */ }
  }
  // A second sender on the same side.
  {
    using peer = await connectAsSender(port);
    await peer.write(encodeControl({ type: "done", files: 0, bytes: 0 }));
    const buf = new Uint8Array(1024);
    while (
      await peer.conn.read(buf) !== null
    ) { /* until the receiver hangs up */ }
  }
  const sent = await sendTo(port, join(TESTFILES, "all-bytes.bin"));
  assert.equal(sent.code, 0, sent.stderr);
  receiver.kill();
  const received = await receiver.result();
  assert.equal(received.code, 0);
  const codes = events(received.stdout).filter((e) => e.event === "error").map((
    e,
  ) => e.code);
  assert.deepEqual(codes, ["not-pasa", "protocol", "protocol", "protocol"]);
  assert.match(received.stderr, /not speaking the pasa protocol/);
  assert.match(received.stderr, /over the 65536-byte limit/);
  assert.deepEqual(await listTree(tmp.path), ["all-bytes.bin"]);
});

Deno.test("two senders meeting get a clear message about roles, and the waiting one goes on waiting for its receiver", async () => {
  await using tmp = await tempDir();
  await using sender = await startListening([
    "send",
    join(TESTFILES, "one-byte.bin"),
    "--listen",
  ]);
  const other = await sendTo(sender.port, join(TESTFILES, "one-byte.bin"));
  assert.equal(other.code, 1);
  assert.match(
    other.stderr,
    /Both sides are senders: run pasa receive on the other machine/,
  );
  // A hello anyone can send does not end it: its receiver still comes.
  const got = await runPasa([
    ...["receive", "--from", `127.0.0.1:${sender.port}`, "--out", tmp.path],
  ]);
  assert.equal(got.code, 0, got.stderr);
  const said = await sender.result();
  assert.equal(said.code, 0, said.stderr);
  assert.match(said.stdout, /failed before pairing: .*Both sides are senders/);
});

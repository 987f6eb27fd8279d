import assert from "node:assert/strict";
import { join } from "node:path";
import { concat } from "../lib/frames.ts";
import {
  events,
  listTree,
  ROOT,
  runPasa,
  sendTo,
  sha256File,
  startListening,
  tempDir,
  TESTFILES,
  within,
} from "./helpers.ts";

const FILE = join(TESTFILES, "chunk-plus-1.bin");

async function readAll(conn: Deno.Conn): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const buf = new Uint8Array(65536);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    parts.push(buf.slice(0, n));
  }
  return concat(...parts);
}

function classic(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + data.length);
  new DataView(out.buffer).setUint32(0, data.length);
  out.set(data, 4);
  return out;
}

Deno.test("send --raw writes a 4-byte big-endian size, then the bytes, to a plain socket", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const got = (async () => {
    using conn = await listener.accept();
    return await readAll(conn);
  })();
  const sent = await sendTo(port, FILE, "--raw");
  assert.equal(sent.code, 0, sent.stderr);
  assert.match(
    sent.stdout,
    /Not verified: the classic --raw format carries no hash/,
  );
  assert.match(sent.stdout, new RegExp(`sha256 ${await sha256File(FILE)}`));
  assert.deepEqual(await got, classic(await Deno.readFile(FILE)));
});

Deno.test("receive --raw takes a classic stream from a plain socket into --name", async () => {
  await using tmp = await tempDir();
  await using receiver = await startListening([
    "receive",
    "--raw",
    "--name",
    "got.bin",
    "--out",
    tmp.path,
  ]);
  const data = await Deno.readFile(FILE);
  {
    using conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: receiver.port,
    });
    const frame = classic(data);
    for (let at = 0; at < frame.length; at += 1000) {
      await conn.write(frame.subarray(at, at + 1000));
    }
  }
  const received = await receiver.result();
  assert.equal(received.code, 0, received.stderr);
  assert.deepEqual(await Deno.readFile(join(tmp.path, "got.bin")), data);
  const summary = events(received.stdout).find((e) => e.event === "summary")!;
  assert.equal(summary.verified, false);
  assert.equal(summary.raw, true);
});

Deno.test("receive --raw --stdout writes the bytes to stdout", async () => {
  const child = (await import("./helpers.ts")).spawnPasa([
    "receive",
    "--raw",
    "--stdout",
    "--port",
    "0",
  ]);
  const errReader = child.stderr.getReader();
  let text = "";
  while (!/port (\d+)/.test(text)) {
    const { value, done } = await within(
      20_000,
      "the receiver's port",
      errReader.read(),
    );
    if (done) throw new Error(`It ended before it said its port: ${text}`);
    text += new TextDecoder().decode(value);
  }
  const port = Number(/port (\d+)/.exec(text)![1]);
  {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(classic(new TextEncoder().encode("hola, mundo\n")));
  }
  const out = await new Response(child.stdout).text();
  errReader.releaseLock();
  await child.stderr.cancel();
  assert.equal((await child.status).code, 0);
  assert.equal(out, "hola, mundo\n");
});

Deno.test("send --raw --listen serves a plain client that connects to read", async () => {
  await using sender = await startListening([
    "send",
    FILE,
    "--raw",
    "--listen",
  ]);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: sender.port });
  assert.deepEqual(await readAll(conn), classic(await Deno.readFile(FILE)));
  conn.close(); // as a classic client does once it has its bytes
  assert.equal((await sender.result()).code, 0);
});

Deno.test("receive --raw rejects a stream shorter than its header and leaves no file", async () => {
  await using tmp = await tempDir();
  await using receiver = await startListening([
    "receive",
    "--raw",
    "--name",
    "short.bin",
    "--out",
    tmp.path,
  ]);
  {
    using conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: receiver.port,
    });
    await conn.write(new Uint8Array([0, 0, 0, 100, 1, 2, 3]));
  }
  const received = await receiver.result();
  assert.equal(received.code, 1);
  assert.match(
    received.stderr,
    /Stream ended after 3 of the 100 bytes the header announced/,
  );
  assert.deepEqual(await listTree(tmp.path), []);
});

Deno.test("send --raw refuses a file of 4 GiB, naming the limit", async () => {
  await using tmp = await tempDir();
  const big = join(tmp.path, "four-gib.bin");
  {
    using f = await Deno.open(big, { write: true, create: true });
    await f.truncate(2 ** 32); // sparse: no disk used
  }
  const sent = await runPasa(["send", big, "--raw", "--to", "127.0.0.1:9"]);
  assert.equal(sent.code, 2);
  assert.match(
    sent.stderr,
    /4-byte header caps files at 4294967295 bytes \(4 GiB - 1\); drop --raw/,
  );
});

const python = await new Deno.Command("python3", {
  args: ["--version"],
  stdout: "null",
  stderr: "null",
})
  .output().then((o) => o.success, () => false);
const PEER = join(ROOT, "tests", "course_peer.py");

Deno.test({
  name: "a Python peer in the course's style sends to receive --raw" +
    (python ? "" : " (skipped: needs python3)"),
  ignore: !python,
  fn: async () => {
    await using tmp = await tempDir();
    await using receiver = await startListening([
      "receive",
      "--raw",
      "--name",
      "py.bin",
      "--out",
      tmp.path,
    ]);
    const py = await new Deno.Command("python3", {
      args: [PEER, "send", "127.0.0.1", String(receiver.port), FILE],
    })
      .output();
    assert.equal(py.code, 0, new TextDecoder().decode(py.stderr));
    assert.equal((await receiver.result()).code, 0);
    assert.equal(
      await sha256File(join(tmp.path, "py.bin")),
      await sha256File(FILE),
    );
  },
});

Deno.test({
  name: "send --raw sends to a Python peer in the course's style" +
    (python ? "" : " (skipped: needs python3)"),
  ignore: !python,
  fn: async () => {
    await using tmp = await tempDir();
    const out = join(tmp.path, "from-pasa.bin");
    const py = new Deno.Command("python3", {
      args: [PEER, "recv", "0", out],
      stdout: "piped",
    }).spawn();
    const reader = py.stdout.getReader();
    const port = Number(
      new TextDecoder().decode((await reader.read()).value).trim(),
    );
    reader.releaseLock();
    const sent = await sendTo(port, FILE, "--raw");
    assert.equal(sent.code, 0, sent.stderr);
    assert.equal((await py.status).code, 0);
    await py.stdout.cancel();
    assert.equal(await sha256File(out), await sha256File(FILE));
  },
});

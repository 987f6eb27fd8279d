import assert from "node:assert/strict";
import { join } from "node:path";
import {
  events,
  fixtureSums,
  listTree,
  runPasa,
  sendTo,
  sha256File,
  spawnPasa,
  startListening,
  tempDir,
  TESTFILES,
  within,
} from "./helpers.ts";
import { connectAsSender } from "./peer.ts";
import { startProxy } from "./proxy.ts";

async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) await copyTree(join(from, e.name), join(to, e.name));
    else await Deno.copyFile(join(from, e.name), join(to, e.name));
  }
}

Deno.test("every fixture in testfiles/ round-trips as a directory, empty directory included", async () => {
  await using tmp = await tempDir();
  const src = join(tmp.path, "fixtures");
  await copyTree(TESTFILES, src);
  await Deno.mkdir(join(src, "nested", "empty-dir"));
  const out = join(tmp.path, "out");
  await using receiver = await startListening(["receive", "--out", out]);
  const sent = await sendTo(receiver.port, src, "--json");
  assert.equal(sent.code, 0, sent.stderr);
  const received = await receiver.result();
  assert.equal(received.code, 0, received.stderr);

  assert.deepEqual(await listTree(join(out, "fixtures")), await listTree(src));
  const sums = await fixtureSums();
  for (const [name, sum] of sums) {
    assert.equal(await sha256File(join(out, "fixtures", name)), sum, name);
  }
  const summary = events(received.stdout).find((e) => e.event === "summary")!;
  assert.equal(summary.verified, true);
  const files = summary.files as {
    name: string;
    sha256: string;
    bytesPerSecond: number;
  }[];
  for (const f of files) {
    const rel = f.name.replace(/^fixtures\//, "");
    if (sums.has(rel)) assert.equal(f.sha256, sums.get(rel), rel);
    assert.ok(Number.isFinite(f.bytesPerSecond));
  }
  assert.equal(files.length, sums.size + 1); // SHA256SUMS itself travels too
  const senderSummary = events(sent.stdout).find((e) => e.event === "summary")!;
  assert.equal(senderSummary.bytes, summary.bytes);
});

Deno.test("several paths in one send keep their own names", async () => {
  await using tmp = await tempDir();
  const out = join(tmp.path, "out");
  await using receiver = await startListening(["receive", "--out", out]);
  const sent = await sendTo(
    receiver.port,
    join(TESTFILES, "one-byte.bin"),
    join(TESTFILES, "café con leche ñandú.txt"),
    join(TESTFILES, "nested"),
  );
  assert.equal(sent.code, 0, sent.stderr);
  assert.match(sent.stdout, /Sent 4 files and 3 directories/);
  assert.equal((await receiver.result()).code, 0);
  assert.deepEqual(await listTree(out), [
    "café con leche ñandú.txt",
    "nested/",
    "nested/deeper/",
    "nested/deeper/deepest/",
    "nested/deeper/deepest/note.md",
    "nested/readme.txt",
    "one-byte.bin",
  ]);
});

Deno.test("standard input of unknown length arrives under --name", async () => {
  await using tmp = await tempDir();
  const data = new Uint8Array(3 * 1024 * 1024 + 17).map((_, i) =>
    (i * 31) & 0xff
  );
  await using receiver = await startListening(["receive", "--out", tmp.path]);
  const sent = await runPasa([
    "send",
    "-",
    "--name",
    "from-stdin.bin",
    "--to",
    `127.0.0.1:${receiver.port}`,
  ], data);
  assert.equal(sent.code, 0, sent.stderr);
  const received = await receiver.result();
  assert.equal(received.code, 0, received.stderr);
  assert.deepEqual(await Deno.readFile(join(tmp.path, "from-stdin.bin")), data);
  const manifest = events(received.stdout).find((e) => e.event === "manifest")!;
  assert.equal(manifest.bytes, null);
});

Deno.test("receive --stdout writes the single file to stdout and text to stderr", async () => {
  const child = spawnPasa(["receive", "--port", "0", "--stdout"]);
  const stderr = child.stderr.getReader();
  let text = "";
  while (!/port (\d+)/.test(text)) {
    const { value, done } = await stderr.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  const port = Number(/port (\d+)/.exec(text)![1]);
  const sent = await sendTo(port, join(TESTFILES, "all-bytes.bin"));
  assert.equal(sent.code, 0, sent.stderr);
  const stdout = new Uint8Array(await new Response(child.stdout).arrayBuffer());
  stderr.releaseLock();
  await child.stderr.cancel();
  assert.equal((await child.status).code, 0);
  assert.deepEqual(
    stdout,
    await Deno.readFile(join(TESTFILES, "all-bytes.bin")),
  );
});

Deno.test("a receiver on all interfaces takes a sender over IPv6 loopback", async () => {
  await using tmp = await tempDir();
  await using receiver = await startListening(["receive", "--out", tmp.path]);
  const sent = await runPasa([
    "send",
    join(TESTFILES, "all-bytes.bin"),
    "--to",
    `[::1]:${receiver.port}`,
  ]);
  assert.equal(sent.code, 0, sent.stderr);
  const received = await receiver.result();
  const peer = events(received.stdout).find((e) => e.event === "connected")
    ?.peer as string;
  assert.match(peer, /^\[::1\]:\d+$/);
  const file = join(tmp.path, "all-bytes.bin");
  assert.equal(
    await sha256File(file),
    await sha256File(join(TESTFILES, "all-bytes.bin")),
  );
});

Deno.test("send --listen and receive --from work the other way round", async () => {
  await using tmp = await tempDir();
  await using sender = await startListening([
    "send",
    join(TESTFILES, "chunk-plus-1.bin"),
    "--listen",
  ]);
  const received = await runPasa([
    "receive",
    "--from",
    `127.0.0.1:${sender.port}`,
    "--out",
    tmp.path,
  ]);
  assert.equal(received.code, 0, received.stderr);
  assert.equal((await sender.result()).code, 0);
  assert.equal(
    await sha256File(join(tmp.path, "chunk-plus-1.bin")),
    await sha256File(join(TESTFILES, "chunk-plus-1.bin")),
  );
});

Deno.test("an existing file is refused with exit 4 on both sides and kept; --force replaces it", async () => {
  await using tmp = await tempDir();
  const target = join(tmp.path, "one-byte.bin");
  await Deno.writeTextFile(target, "precious");
  {
    await using receiver = await startListening(["receive", "--out", tmp.path]);
    const sent = await sendTo(receiver.port, join(TESTFILES, "one-byte.bin"));
    assert.equal(sent.code, 4);
    assert.match(
      sent.stderr,
      /Refusing to overwrite: one-byte.bin exists \(pasa receive --force replaces it\)/,
    );
    const received = await receiver.result();
    assert.equal(received.code, 4);
    assert.equal(
      events(received.stdout).find((e) => e.event === "error")?.code,
      "exists",
    );
    assert.equal(await Deno.readTextFile(target), "precious");
  }
  await using receiver = await startListening([
    "receive",
    "--out",
    tmp.path,
    "--force",
  ]);
  const sent = await sendTo(receiver.port, join(TESTFILES, "one-byte.bin"));
  assert.equal(sent.code, 0, sent.stderr);
  assert.deepEqual(await Deno.readFile(target), new Uint8Array([0]));
});

Deno.test("--max-size refuses a larger transfer up front", async () => {
  await using tmp = await tempDir();
  await using receiver = await startListening([
    "receive",
    "--out",
    tmp.path,
    "--max-size",
    "1M",
  ]);
  const sent = await sendTo(receiver.port, join(TESTFILES, "chunk-exact.bin"));
  assert.equal(sent.code, 4);
  assert.match(sent.stderr, /over the receiver's --max-size of 977 KiB/);
  assert.equal((await receiver.result()).code, 4);
  assert.deepEqual(await listTree(tmp.path), []);
});

// Encrypted, the flipped byte fails its record's tag; --insecure, the SHA-256.
for (
  const [flags, caughtBy, message] of [
    [[], "its record's tag", /encrypted record failed its check/],
    [["--insecure"], "the SHA-256", /SHA-256 mismatch for chunk-exact.bin/],
  ] as const
) {
  Deno.test(`${flags.join(" ") || "encrypted"}: a byte flipped in flight is caught by ${caughtBy}, exit 3 on both sides and no file`, async () => {
    await using tmp = await tempDir();
    await using receiver = await startListening([
      "receive",
      "--out",
      tmp.path,
      ...flags,
    ]);
    // Far past the handshake and manifest: inside the file body.
    await using proxy = startProxy(receiver.port, { flipAt: 500_000 });
    const sent = await sendTo(
      proxy.port,
      join(TESTFILES, "chunk-exact.bin"),
      ...flags,
    );
    assert.equal(sent.code, 3, sent.stderr);
    assert.match(sent.stderr, message);
    const received = await receiver.result();
    assert.equal(received.code, 3);
    assert.equal(
      events(received.stdout).find((e) => e.event === "error")?.code,
      "integrity",
    );
    assert.deepEqual(await listTree(tmp.path), []);
  });
}

Deno.test("a silent peer times out instead of hanging", async () => {
  await using tmp = await tempDir();
  await using receiver = await startListening([
    "receive",
    "--out",
    tmp.path,
    "--timeout",
    "0.5",
  ]);
  // A peer that paired, then says nothing (a stranger that goes silent
  // before pairing is not the one-shot receiver's transfer: hostile_test.ts).
  using _peer = await connectAsSender(receiver.port);
  const received = await receiver.result();
  assert.equal(received.code, 1);
  // The idle timer or the handshake deadline, whichever fires first: both time out.
  assert.match(
    received.stderr,
    /Connection timed out: (no data for|the peer took over) 0.5 s/,
  );
  assert.equal(
    events(received.stdout).find((e) => e.event === "error")?.code,
    "timeout",
  );
});

Deno.test("receive --keep serves two senders at once", async () => {
  await using tmp = await tempDir();
  await using receiver = await startListening([
    "receive",
    "--keep",
    "--out",
    tmp.path,
  ]);
  const to = `127.0.0.1:${receiver.port}`;
  const [a, b] = await Promise.all([
    runPasa(["send", join(TESTFILES, "chunk-minus-1.bin"), "--to", to]),
    runPasa(["send", join(TESTFILES, "nested"), "--to", to]),
  ]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  receiver.kill("SIGINT");
  const received = await receiver.result();
  assert.equal(received.code, 0, received.stderr);
  assert.equal(
    events(received.stdout).filter((e) => e.event === "summary").length,
    2,
  );
  assert.deepEqual((await listTree(tmp.path)).filter((p) => !p.endsWith("/")), [
    "chunk-minus-1.bin",
    "nested/deeper/deepest/note.md",
    "nested/readme.txt",
  ]);
});

Deno.test("killing the sender mid-transfer leaves no file under the final name", async () => {
  await using tmp = await tempDir();
  await using receiver = await startListening(["receive", "--out", tmp.path]);
  // The sender reads stdin, so it is surely mid-transfer while we hold stdin open.
  const child = spawnPasa(
    [
      "send",
      "-",
      "--name",
      "partial.bin",
      "--to",
      `127.0.0.1:${receiver.port}`,
      "--json",
    ],
    { stdin: "piped" },
  );
  const writer = child.stdin.getWriter();
  await writer.write(new Uint8Array(2 * 1024 * 1024));
  const reader = child.stdout.getReader();
  let text = "";
  while (!text.includes('"manifest"')) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  child.kill("SIGKILL");
  reader.releaseLock();
  await writer.close().catch(() => {});
  await child.stdout.cancel();
  await child.stderr.cancel();
  await child.status;
  const received = await receiver.result();
  assert.equal(received.code, 1, received.stderr);
  assert.deepEqual(await listTree(tmp.path), []);
});

Deno.test({
  name: "file permission bits and modification times arrive with the files",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    await using tmp = await tempDir();
    const src = join(tmp.path, "src");
    await Deno.mkdir(src);
    const script = join(src, "run.sh");
    await Deno.writeTextFile(script, "#!/bin/sh\necho hola\n");
    await Deno.chmod(script, 0o751);
    const when = new Date("2001-02-03T04:05:06.007Z");
    await Deno.utime(script, when, when);
    const out = join(tmp.path, "out");
    await using receiver = await startListening(["receive", "--out", out]);
    const sent = await sendTo(receiver.port, src);
    assert.equal(sent.code, 0, sent.stderr);
    assert.equal((await receiver.result()).code, 0);
    const info = await Deno.stat(join(out, "src", "run.sh"));
    assert.equal(info.mode! & 0o777, 0o751);
    assert.equal(info.mtime?.getTime(), when.getTime());
  },
});

/**
 * A sender waiting with --listen (plain) to send `text` as `name`, and a
 * receiver to run against it: `receive()` takes it into `out` and returns
 * what the receiver said once the copy was checked.
 */
async function waitingSender(dir: string, name: string, text: string) {
  const file = join(dir, name);
  await Deno.writeTextFile(file, text);
  const sender = await startListening(["send", file, "--listen", "--insecure"]);
  const out = join(dir, "out");
  return {
    sender,
    stranger: () => Deno.connect({ hostname: "127.0.0.1", port: sender.port }),
    async receive(...flags: string[]) {
      const received = await runPasa([
        "receive",
        "--from",
        `127.0.0.1:${sender.port}`,
        "--insecure",
        ...flags,
        "--out",
        out,
      ]);
      assert.equal(received.code, 0, received.stderr);
      assert.equal(await Deno.readTextFile(join(out, name)), text);
    },
    async [Symbol.asyncDispose]() {
      await sender[Symbol.asyncDispose]();
    },
  };
}

Deno.test("a sender waiting with --listen lets strangers go (HTTP, a bare connect) and still serves the real receiver", async () => {
  await using tmp = await tempDir();
  await using waiting = await waitingSender(tmp.path, "waiting.txt", "here\n");
  const http = await waiting.stranger();
  await http.write(new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n"));
  (await waiting.stranger()).close();
  await waiting.receive();
  http.close();
  const sent = await within(30_000, "the sender", waiting.sender.result());
  assert.equal(sent.code, 0, sent.stderr);
  const warned = events(sent.stdout).filter((e) => e.event === "warning")
    .map((e) => String(e.message)).filter((m) => m.includes("pairing:"));
  assert.equal(warned.length, 2, warned.join(" / "));
  for (const w of warned) {
    assert.match(w, /failed before pairing.*still waiting for the receiver/);
  }
});

Deno.test("a silent stranger holding a connection to a waiting sender does not hold up the real receiver", async () => {
  await using tmp = await tempDir();
  await using waiting = await waitingSender(tmp.path, "prompt.txt", "now\n");
  // Connected, and silent for as long as the transfer takes.
  const silent = await waiting.stranger();
  // Connections pair side by side: the receiver's own 5 s time-out is
  // never reached, though the stranger has 10 s to pair.
  await waiting.receive("--timeout", "5");
  silent.close();
  const sent = await within(30_000, "the sender", waiting.sender.result());
  assert.equal(sent.code, 0, sent.stderr);
});

for (const who of ["sender", "receiver"] as const) {
  Deno.test(`the ${who}, stopped with Ctrl-C in the middle of a file, tells the other side, which says so and exits 1`, async () => {
    await using tmp = await tempDir();
    const out = join(tmp.path, "out");
    await using receiver = await startListening(["receive", "--out", out]);
    // Standard input that is written to once, then waits: a transfer under way.
    const sender = spawnPasa([
      ...["send", "-", "--name", "stream.bin", "--json"],
      ...["--to", `127.0.0.1:${receiver.port}`],
    ], { stdin: "piped" });
    const writer = sender.stdin.getWriter();
    await writer.write(new Uint8Array(300_000).fill(1));
    const said = sender.stdout.pipeThrough(new TextDecoderStream()).getReader();
    try {
      // Under way once its first progress event is out.
      let seen = "";
      await within(
        20_000,
        "the transfer to get under way",
        (async () => {
          while (!seen.includes('"event":"progress"')) {
            const { value, done } = await said.read();
            if (done) throw new Error(`the sender ended: ${seen}`);
            seen += value;
          }
        })(),
      );
      if (who === "sender") sender.kill("SIGINT");
      else receiver.kill("SIGINT");
      const stopped = await within(
        10_000,
        `the ${who}`,
        (async () => {
          if (who === "sender") return (await sender.status).code;
          return (await receiver.result()).code;
        })(),
      );
      assert.equal(stopped, 130);
      const other = who === "sender"
        ? await within(10_000, "the receiver", receiver.result())
        : await within(
          10_000,
          "the sender",
          (async () => {
            let rest = "";
            for (;;) {
              const { value, done } = await said.read();
              if (done) break;
              rest += value;
            }
            return { code: (await sender.status).code, stdout: rest };
          })(),
        );
      assert.equal(other.code, 1);
      const error = events(other.stdout).find((e) => e.event === "error");
      assert.equal(error?.code, "interrupted");
      assert.match(
        error?.message as string,
        new RegExp(`The ${who} was interrupted \\(stopped by its user\\)`),
      );
    } finally {
      await writer.close().catch(() => {});
      try {
        sender.kill("SIGKILL");
      } catch { /* ended */ }
      await sender.status;
      said.releaseLock();
      await sender.stdout.cancel().catch(() => {});
      await sender.stderr.cancel().catch(() => {});
    }
  });
}

Deno.test("a sender stopped with Ctrl-C while it streams a file ends the chunk it is writing and tells the receiver, which keeps what arrived", async () => {
  await using tmp = await tempDir();
  const size = 64 * 1024 * 1024;
  const file = join(tmp.path, "slow.bin");
  await Deno.writeFile(file, new Uint8Array(size).fill(3));
  const out = join(tmp.path, "out");
  await using receiver = await startListening(["receive", "--out", out]);
  // 20 MB/s: about 3 s for the file.
  await using proxy = startProxy(receiver.port, { bytesPerSecond: 20e6 });
  const sender = spawnPasa([
    ...["send", file, "--to", `127.0.0.1:${proxy.port}`],
  ]);
  const part = join(out, "slow.bin.pasa.part");
  await within(
    20_000,
    "the file to get under way",
    (async () => {
      while ((await Deno.stat(part).then((i) => i.size, () => 0)) < 8e6) {
        await new Promise((r) => setTimeout(r, 10));
      }
    })(),
  );
  sender.kill("SIGINT");
  const stopped = await within(10_000, "the sender", sender.output());
  assert.equal(stopped.code, 130);
  const received = await within(10_000, "the receiver", receiver.result());
  assert.equal(received.code, 1, received.stderr);
  const said = events(received.stdout);
  assert.equal(said.find((e) => e.event === "error")?.code, "interrupted");
  assert.ok(said.some((e) => e.event === "kept"), "the part is kept");
});

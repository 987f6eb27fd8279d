/**
 * What a user sees before any transfer: the checks a receiver makes before
 * it hands out a code, the commands it prints, and a connection that gets
 * no answer.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  events,
  onTerminal,
  runPasa,
  startListening,
  tempDir,
  TESTFILES,
  within,
} from "./helpers.ts";

Deno.test("a receiver whose port is in use leaves no output directory behind", async () => {
  await using tmp = await tempDir();
  await using first = await startListening([
    "receive",
    "--out",
    join(tmp.path, "a"),
  ]);
  // The tests' environment (scripts/pasa.ts) keeps receivers from
  // announcing themselves on this machine's own network.
  assert.equal(first.listening.announced, false);
  const out = join(tmp.path, "b");
  const second = await runPasa([
    "receive",
    "--out",
    out,
    "--port",
    String(first.port),
  ]);
  assert.equal(second.code, 1);
  assert.match(second.stderr, /Cannot listen on port \d+: it is in use/);
  await assert.rejects(() => Deno.lstat(out), Deno.errors.NotFound);
  first.kill();
  await first.result();
});

/** Makes `dir` unwritable even for root (`chattr +i`), or says why it cannot. */
async function immutable(dir: string, on: boolean): Promise<string | null> {
  try {
    const r = await new Deno.Command("chattr", {
      args: [on ? "+i" : "-i", dir],
      stdout: "null",
      stderr: "null",
    }).output();
    return r.success ? null : "chattr +i is refused here";
  } catch {
    return "no chattr";
  }
}

Deno.test("a receiver that cannot write into --out says so before it shows a code, and creates nothing", async (t) => {
  await using tmp = await tempDir();
  const locked = join(tmp.path, "locked");
  await Deno.mkdir(locked);
  const why = await immutable(locked, true);
  if (why) {
    await t.step({ name: `(skipped: ${why})`, ignore: true, fn: () => {} });
    return;
  }
  try {
    for (const out of [locked, join(locked, "new")]) {
      const r = await runPasa(["receive", "--out", out, "--port", "0"]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /Cannot (write into|create output directory)/);
      assert.doesNotMatch(r.stdout + r.stderr, /Code:/);
    }
    assert.deepEqual([...Deno.readDirSync(locked)], []);
  } finally {
    await immutable(locked, false);
  }
});

Deno.test("a receiver bound to one address prints only commands that can reach it", async () => {
  await using tmp = await tempDir();
  for (const [host, shown] of [["127.0.0.1", "127.0.0.1"], ["::1", "[::1]"]]) {
    await using receiver = await startListening([
      "receive",
      "--host",
      host!,
      "--out",
      tmp.path,
    ]);
    assert.deepEqual(receiver.listening.addresses, [host]);
    receiver.kill();
    await receiver.result();
    const { renderListening } = await import("../lib/report.ts");
    const text = renderListening({
      host: host!,
      port: 9000,
      addresses: [host!],
      command: "pasa send PATH --to ADDR",
      role: "receiver",
      raw: false,
    });
    assert.match(text, /loopback only: from this machine, run:/);
    assert.match(
      text,
      new RegExp(`--to ${shown!.replace(/[[\]]/g, "\\$&")}:9000`),
    );
    assert.doesNotMatch(text, /This machine's addresses/);
  }
});

/** A loopback port whose accept queue is full: a new connection gets no answer. */
async function silentPort(): Promise<
  { port: number; close: () => Promise<void> } | string
> {
  const script = `
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)
port = s.getsockname()[1]
held = []
for i in range(4):
    c = socket.socket(); c.setblocking(False)
    try: c.connect(("127.0.0.1", port))
    except BlockingIOError: pass
    held.append(c)
print(port, flush=True)
sys.stdin.read()
`;
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("python3", {
      args: ["-c", script],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
  } catch {
    return "needs python3";
  }
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  const port = Number(new TextDecoder().decode(value).trim());
  return {
    port,
    close: async () => {
      await child.stdin.close();
      await child.stdout.cancel();
      await child.status;
    },
  };
}

Deno.test("a connection that gets no answer gives up after --timeout, saying where it waited", async (t) => {
  const silent = await silentPort();
  if (typeof silent === "string") {
    await t.step({ name: `(skipped: ${silent})`, ignore: true, fn: () => {} });
    return;
  }
  try {
    const r = await runPasa([
      "send",
      join(TESTFILES, "one-byte.bin"),
      "--to",
      `127.0.0.1:${silent.port}`,
      "--insecure",
      "--timeout",
      "2",
      "--json",
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `Cannot connect to 127\\.0\\.0\\.1:${silent.port}: no answer within 2 s`,
      ),
    );
    assert.deepEqual(
      events(r.stdout).filter((e) => e.event === "connecting").map((e) => e.to),
      [`127.0.0.1:${silent.port}`],
      "it said where it was waiting",
    );
  } finally {
    await silent.close();
  }
});

Deno.test("an answer to 'Accept ...? [Y/n]' is yes when empty, y or yes, no when n, no or the end of input, and anything else is asked again", async () => {
  const { acceptsAnswer, answerOf } = await import(
    "../lib/receive_command.ts"
  );
  for (const yes of ["", "  ", "y", "Y", "yes", "YES "]) {
    assert.equal(answerOf(yes), true, JSON.stringify(yes));
    assert.ok(acceptsAnswer(yes), JSON.stringify(yes));
  }
  for (const no of ["n", "N", "no", " NO", null]) {
    assert.equal(answerOf(no), false, JSON.stringify(no));
  }
  for (const unclear of ["maybe", "nope", "yess", "q"]) {
    assert.equal(answerOf(unclear), undefined, JSON.stringify(unclear));
    assert.ok(!acceptsAnswer(unclear), JSON.stringify(unclear));
  }
});

/**
 * `pasa receive --insecure` on a terminal, on a free-looking port, with
 * `flags`, and a sender of one byte with `senderFlags` once it listens.
 */
async function askedOnTerminal(
  out: string,
  flags: string[],
  senderFlags: string[],
) {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const run = await onTerminal([
    ...["receive", "--insecure", "--port", String(port), "--out", out],
    ...flags,
  ]);
  if (typeof run === "string") return run;
  const send = () =>
    runPasa([
      ...["send", join(TESTFILES, "one-byte.bin"), "--insecure"],
      ...["--to", `127.0.0.1:${port}`, ...senderFlags],
    ]);
  const sent = (async () => {
    let result = await send();
    for (let i = 0; i < 50 && /refused/.test(result.stderr); i++) {
      await new Promise((r) => setTimeout(r, 100));
      result = await send();
    }
    return result;
  })();
  return { run, sent };
}

Deno.test("while the receiver's user is asked, the sender waits past its own --timeout, and no rate counts the time the user took", async (t) => {
  await using tmp = await tempDir();
  const asked = await askedOnTerminal(join(tmp.path, "out"), [
    "--timeout",
    "30",
  ], ["--timeout", "2", "--json"]);
  if (typeof asked === "string") {
    await t.step({ name: `(skipped: ${asked})`, ignore: true, fn: () => {} });
    return;
  }
  await using run = asked.run;
  const sent = asked.sent;
  await run.seen(/\[Y\/n\]/);
  // Longer than the sender's --timeout before the user answers.
  await new Promise((r) => setTimeout(r, 4000));
  await run.type("y\n");
  const result = await within(20_000, "the sender", sent);
  assert.equal(result.code, 0, result.stderr);
  const said = events(result.stdout);
  assert.equal(
    said.find((e) => e.event === "asking")?.timeoutMs,
    30_000,
  );
  const summary = said.find((e) => e.event === "summary")!;
  assert.ok(
    (summary.seconds as number) < 2,
    `the 4 s the user took are not the transfer's: ${summary.seconds} s`,
  );
  assert.match(
    await within(20_000, "the receiver", run.output),
    /Received 1 file, 1 B in 0\.\d\d s/,
  );
});

Deno.test("a receiver whose user answers neither yes nor no is asked again, and one who does not answer within --timeout declines: both sides say why", async (t) => {
  await using tmp = await tempDir();
  const asked = await askedOnTerminal(join(tmp.path, "out"), [
    "--timeout",
    "3",
  ], []);
  if (typeof asked === "string") {
    await t.step({ name: `(skipped: ${asked})`, ignore: true, fn: () => {} });
    return;
  }
  await using run = asked.run;
  const sent = asked.sent;
  await run.seen(/\[Y\/n\]/);
  await run.type("maybe\n");
  await run.seen(/Please answer y/);
  const result = await within(20_000, "the sender", sent);
  assert.equal(result.code, 4, result.stderr);
  assert.match(
    result.stderr,
    /did not answer within 3 s \(--timeout\): the transfer is declined/,
  );
  assert.match(result.stdout, /Waiting for the receiver's user to accept/);
  const said = await within(20_000, "the receiver", run.output);
  assert.match(said, /did not answer within 3 s/);
  assert.equal((await run.child.status).code, 4);
});

for (
  const [typed, accepted] of [["n\n", false], ["\n", true], ["", true]] as const
) {
  Deno.test(
    `a receiver on a terminal asks before taking a transfer: ${
      typed === "" ? "--yes asks nothing" : JSON.stringify(typed)
    } ${accepted ? "accepts" : "declines"} it`,
    async (t) => {
      await using tmp = await tempDir();
      const out = join(tmp.path, "out");
      const port = 20000 + Math.floor(Math.random() * 20000);
      const run = await onTerminal([
        "receive",
        "--insecure",
        "--port",
        String(port),
        "--out",
        out,
        ...(typed === "" ? ["--yes"] : []),
      ], typed);
      if (typeof run === "string") {
        await t.step({ name: `(skipped: ${run})`, ignore: true, fn: () => {} });
        return;
      }
      await using _terminal = run;
      // Bounded: the receiver is up within a few seconds, or the test fails.
      const send = () =>
        runPasa([
          "send",
          join(TESTFILES, "one-byte.bin"),
          "--to",
          `127.0.0.1:${port}`,
          "--insecure",
        ]);
      let sent = await send();
      for (let i = 0; i < 50 && /refused/.test(sent.stderr); i++) {
        await new Promise((r) => setTimeout(r, 100));
        sent = await send();
      }
      const said = await within(
        20_000,
        "the receiver on a terminal",
        run.output,
      );
      if (accepted) {
        assert.equal(sent.code, 0, sent.stderr);
        assert.equal(/Accept 1 file/.test(said), typed !== "", said);
      } else {
        assert.equal(sent.code, 4, sent.stderr);
        assert.match(sent.stderr, /declined the transfer/);
        assert.match(
          said,
          /Accept 1 file \(1 B\) from 127\.0\.0\.1:\d+\? \[Y\/n\]/,
        );
        assert.deepEqual([...Deno.readDirSync(out)], [], "nothing created");
      }
    },
  );
}

Deno.test("a sender with no address and no code, or with looking turned off, is told to give --to (exit 2)", async () => {
  const file = join(TESTFILES, "one-byte.bin");
  const insecure = await runPasa(["send", file, "--insecure"]);
  assert.equal(insecure.code, 2);
  assert.match(insecure.stderr, /Where to\? Give --to HOST\[:PORT\]/);
  // The tests' environment turns looking off (scripts/pasa.ts).
  const off = await runPasa(["send", file, "--code", "7-guitar-nebula"]);
  assert.equal(off.code, 2);
  assert.match(
    off.stderr,
    /Looking for receivers is off here \(PASA_DISCOVERY=off\)/,
  );
  const plain = await runPasa(["send", file, "--code", "guitar-nebula"]);
  assert.equal(plain.code, 2);
  assert.match(plain.stderr, /has no number in front/);
});

Deno.test("a receiver that makes --out but cannot write into it removes what it made", async (t) => {
  await using tmp = await tempDir();
  const mnt = join(tmp.path, "mnt");
  await Deno.mkdir(mnt);
  // A file system with one free inode: the directory takes it, and then no
  // file fits (root only; skipped elsewhere).
  const mounted = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "size=1m,nr_inodes=2", "tmpfs", mnt],
    stdout: "null",
    stderr: "null",
  }).output().then((o) => o.success, () => false);
  if (!mounted) {
    await t.step({
      name: "(skipped: needs root to mount a tmpfs)",
      ignore: true,
      fn: () => {},
    });
    return;
  }
  try {
    const out = join(mnt, "new");
    const r = await runPasa(["receive", "--out", out, "--port", "0"]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /Cannot write into/);
    assert.doesNotMatch(r.stdout, /Code:/);
    assert.deepEqual(
      [...Deno.readDirSync(mnt)],
      [],
      "the directory it made is gone",
    );
  } finally {
    await new Deno.Command("umount", { args: [mnt] }).output();
  }
});

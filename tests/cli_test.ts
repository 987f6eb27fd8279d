import assert from "node:assert/strict";
import { join } from "node:path";
import { parseArgs } from "../lib/cli.ts";
import { UsageError } from "../lib/errors.ts";
import { events, pasaFlags, runPasa, sendTo, TESTFILES } from "./helpers.ts";
import config from "../deno.json" with { type: "json" };

Deno.test("the pasa task grants exactly what the binary gets, never -A", () => {
  const flags = pasaFlags();
  assert.ok(!flags.some((f) => f === "-A" || f.startsWith("--allow-all")));
  assert.deepEqual(flags.filter((f) => f.startsWith("--allow")), [
    "--allow-net",
    "--allow-read",
    "--allow-write",
    "--allow-sys=networkInterfaces,statfs",
    "--allow-env=PASA_CODE,PASA_DISCOVERY",
    "--allow-run=cat",
  ]);
});

Deno.test("parseArgs() builds a typed receive command with defaults", () => {
  const c = parseArgs(["receive"]);
  assert.equal(c.kind, "receive");
  if (c.kind !== "receive") return;
  assert.equal(c.port, 9000);
  assert.equal(c.out, ".");
  assert.equal(c.timeoutMs, 60_000);
  assert.equal(c.maxSize, Infinity);
  assert.equal(c.keep, false);
});

Deno.test("parseArgs() reads HOST:PORT forms for --to", () => {
  const cases: [string, string, number][] = [
    ["lab-3", "lab-3", 9000],
    ["10.0.0.5:9100", "10.0.0.5", 9100],
    ["[::1]:7000", "::1", 7000],
    ["::1", "::1", 9000],
  ];
  for (const [text, host, port] of cases) {
    const c = parseArgs(["send", "x", "--to", text]);
    assert.equal(c.kind === "send" && c.to?.host, host, text);
    assert.equal(c.kind === "send" && c.to?.port, port, text);
  }
});

const usage: [string[], RegExp][] = [
  [
    ["receive", "--prot", "1"],
    /Unknown option '--prot' \(Did you mean --port\?\)/,
  ],
  [["recieve"], /Unknown command 'recieve' \(Did you mean receive\?\)/],
  [["send", "x", "--insecure"], /Where to\? Give --to HOST\[:PORT\]/],
  [["send", "x", "--raw"], /Where to\? Give --to HOST\[:PORT\]/],
  [["send", "x", "--to", "h", "--listen"], /Choose one of --to/],
  [["send", "x", "--to", "h:99999"], /Invalid port "99999"/],
  [["receive", "--port", "http"], /Invalid --port "http"/],
  [["receive", "--max-size", "lots"], /Invalid --max-size/],
  [["receive", "--timeout", "-1"], /Invalid --timeout/],
  [["receive", "--stdout", "--keep"], /--stdout takes one file/],
  [["receive", "--raw"], /--raw needs --name NAME or --stdout/],
  [["send", "a", "b", "--raw", "--to", "h"], /--raw sends exactly one file/],
  [
    ["send", "a", "--rate", "1G", "--to", "h"],
    /--rate, --datagram-size and --lossy go with --udp/,
  ],
  [
    ["send", "a", "--udp", "--listen"],
    /--udp sends files of known size to a listening receiver/,
  ],
  [
    ["send", "-", "--udp", "--to", "h"],
    /not with --listen, --raw or standard input/,
  ],
  [
    ["send", "a", "--udp", "--rate", "fast", "--to", "h"],
    /Invalid --rate "fast"/,
  ],
  [
    ["send", "a", "--udp", "--datagram-size", "100", "--to", "h"],
    /Invalid --datagram-size "100": expected 512 to 65000/,
  ],
  [
    ["receive", "--udp", "--stdout"],
    /--udp needs a listening receiver writing files/,
  ],
  [
    ["send", "a", "--no-announce", "--to", "h"],
    /--no-announce is for --listen/,
  ],
];
for (const [args, pattern] of usage) {
  Deno.test(`parseArgs(${JSON.stringify(args)}) is a usage error`, () => {
    assert.throws(() => parseArgs(args), (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.match(error.message, pattern);
      return true;
    });
  });
}

Deno.test("pasa --help teaches: commands, an example and the exit codes", async () => {
  const r = await runPasa(["--help"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /receive \[options\]/);
  assert.match(r.stdout, /pasa send photos\/ notes.txt --to 192.168.1.20/);
  assert.match(r.stdout, /3 {2}integrity failure/);
});

Deno.test("pasa send --help and pasa help receive show each command's examples", async () => {
  const send = await runPasa(["send", "--help"]);
  assert.equal(send.code, 0);
  assert.match(
    send.stdout,
    /tar c src \| pasa send - --name src.tar --to lab-3/,
  );
  const receive = await runPasa(["help", "receive"]);
  assert.equal(receive.code, 0);
  assert.match(receive.stdout, /pasa receive --keep --max-size 2G/);
});

Deno.test("pasa --version names the tool, protocol and Deno versions", async () => {
  const r = await runPasa(["--version"]);
  assert.equal(r.code, 0);
  assert.equal(
    r.stdout.trim(),
    `pasa ${config.version} (protocol 1, deno ${Deno.version.deno})`,
  );
});

Deno.test("pasa with no command prints help on stderr and exits 2", async () => {
  const r = await runPasa([]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /Usage: pasa/);
});

Deno.test("a typo exits 2 with a suggestion, in text and in --json", async () => {
  const r = await runPasa(["send", "x", "--too", "h", "--json"]);
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /^pasa: Unknown option '--too' \(Did you mean --to\?\)/,
  );
  assert.deepEqual(events(r.stdout), [{
    event: "error",
    code: "usage",
    exitCode: 2,
    message: "Unknown option '--too' (Did you mean --to?)",
  }]);
});

Deno.test("standard input mixed with other paths exits 2", async () => {
  const r = await runPasa([
    "send",
    join(TESTFILES, "one-byte.bin"),
    "-",
    "--to",
    "127.0.0.1:9",
  ]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /Standard input \(-\) must be the only path to send/);
});

Deno.test("sending a path that does not exist exits 2 and names it", async () => {
  const r = await runPasa([
    "send",
    "/nonexistent/file.txt",
    "--to",
    "127.0.0.1:9",
  ]);
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /Cannot send \/nonexistent\/file.txt: no such file or directory/,
  );
});

Deno.test("connecting where nobody listens exits 1 with a hint", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const r = await sendTo(port, join(TESTFILES, "one-byte.bin"), "--json");
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /connection refused \(is the other side listening on that port\?\)/,
  );
  assert.equal(events(r.stdout).at(-1)?.code, "network");
});

Deno.test("listening on a port in use exits 1 and suggests --port 0", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const r = await runPasa([
    "receive",
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
  ]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /port \d+: it is in use.*--port 0/);
});

Deno.test("receive prints where it listens and the command for the other machine", async () => {
  const child = (await import("./helpers.ts")).spawnPasa([
    "receive",
    "--port",
    "0",
  ]);
  const reader = child.stdout.getReader();
  let text = "";
  while (!text.includes("--to")) {
    const { value, done } = await reader.read();
    if (done) break; // exited early: the assertions below say what it printed
    text += new TextDecoder().decode(value);
  }
  child.kill("SIGINT");
  reader.releaseLock();
  await child.stdout.cancel();
  assert.equal(await new Response(child.stderr).text(), "pasa: Interrupted\n");
  assert.equal((await child.status).code, 130);
  assert.match(text, /^Receiving on port \d+ \(all interfaces\)\n/);
  assert.match(
    text,
    /On the other machine, run:\n {2}pasa send PATH --to \S+:\d+/,
  );
});

Deno.test("a sender whose output nobody reads (pasa send ... | head) still completes the transfer", async () => {
  const { startListening, tempDir, listTree } = await import("./helpers.ts");
  await using tmp = await tempDir();
  await using receiver = await startListening(["receive", "--out", tmp.path]);
  const child = (await import("./helpers.ts")).spawnPasa([
    "send",
    join(TESTFILES, "chunk-plus-1.bin"),
    "--to",
    `127.0.0.1:${receiver.port}`,
  ]);
  await child.stdout.cancel(); // the reader is gone before the first line
  const stderr = await new Response(child.stderr).text();
  assert.equal((await child.status).code, 0, stderr);
  assert.equal((await receiver.result()).code, 0);
  assert.deepEqual(await listTree(tmp.path), ["chunk-plus-1.bin"]);
});

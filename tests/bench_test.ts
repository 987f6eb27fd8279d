import assert from "node:assert/strict";
import { join } from "node:path";
import { startProxy } from "./proxy.ts";
import {
  events,
  listTree,
  runPasa,
  sendTo,
  startListening,
  tempDir,
  TESTFILES,
} from "./helpers.ts";

type Run = {
  label: string;
  mode: string;
  verified: boolean;
  bytes: number;
  firstPassLossPercent: number | null;
  check: string | null;
  error?: string;
};
type Doc = {
  start: { payload: string; embedded: boolean };
  intervals: { mode: string; bitsPerSecond: number }[];
  end: { modes: Run[]; sweep: Run[]; ok: boolean };
};

Deno.test("pasa bench --json measures TCP, UDP and UDP --lossy on loopback, all verified", async () => {
  const r = await runPasa(["bench", "--size", "4MiB", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const doc: Doc = JSON.parse(r.stdout);
  assert.equal(doc.start.payload, "memory");
  assert.equal(doc.start.embedded, true);
  assert.deepEqual(doc.end.modes.map((m) => m.label), [
    "tcp",
    "udp",
    "udp --lossy",
  ]);
  const [tcp, udp, lossy] = doc.end.modes;
  assert.equal(tcp!.verified, true);
  assert.equal(udp!.verified, true);
  assert.equal(tcp!.bytes, 4 * 1024 * 1024);
  assert.ok(lossy!.firstPassLossPercent !== null);
  for (const mode of ["tcp", "udp", "udp --lossy"]) {
    assert.ok(
      doc.intervals.some((i) => i.mode === mode),
      `intervals for ${mode}`,
    );
  }
  assert.equal(doc.end.ok, true);
  assert.doesNotMatch(r.stdout, /NaN|Infinity/);
});

Deno.test("on loopback pasa bench measures the path: not encrypted, the payload compared where it lands; --encrypt and --file say what they add", async () => {
  const plain = JSON.parse(
    (await runPasa(["bench", "--size", "2MiB", "--json", "--cost"])).stdout,
  );
  assert.equal(plain.start.encrypted, false);
  assert.deepEqual(plain.end.modes.map((m: Run) => m.check), [
    "pattern",
    "pattern",
    "pattern",
  ]);
  assert.ok(plain.end.cost.sha256SecondsPerGiB > 0);
  assert.ok(plain.end.cost.chacha20poly1305SecondsPerGiB > 0);
  const encrypted = await runPasa(["bench", "--size", "2MiB", "--encrypt"]);
  assert.equal(encrypted.code, 0, encrypted.stderr);
  assert.match(encrypted.stdout, /loopback\), encrypted; payload generated/);
  await using tmp = await tempDir();
  const file = join(tmp.path, "real.bin");
  await Deno.writeFile(file, new Uint8Array(300_000).fill(3));
  const real = JSON.parse(
    (await runPasa(["bench", "--file", file, "--json"])).stdout,
  );
  assert.equal(real.end.modes[0].check, "sha256");
  assert.equal(real.end.modes[0].verified, true);
});

Deno.test("pasa bench --datagram-size sends UDP in datagrams of exactly that size, and --csv prints a row per run", async () => {
  const doc = JSON.parse(
    (await runPasa([
      "bench",
      "--size",
      "2MiB",
      "--datagram-size",
      "1200",
      "--json",
    ])).stdout,
  );
  assert.deepEqual(
    [doc.start.datagramSize, doc.start.slotsPerDatagram],
    [1200, 1],
  );
  const csv = await runPasa(["bench", "--size", "2MiB", "--csv"]);
  assert.equal(csv.code, 0, csv.stderr);
  const lines = csv.stdout.trimEnd().split("\n");
  assert.equal(lines.length, 4, csv.stdout);
  assert.match(lines[0]!, /^label,mode,round,offered_bps,bytes,seconds/);
  assert.match(lines[1]!, /^tcp,tcp,,,2097152,/);
  assert.equal((await runPasa(["bench", "--csv", "--json"])).code, 2);
});

Deno.test("pasa bench --runs repeats every run and sums each kind up", async () => {
  const r = await runPasa(["bench", "--size", "1MiB", "--runs", "2", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.deepEqual(doc.end.modes.map((m: { label: string }) => m.label), [
    "tcp #1",
    "udp #1",
    "udp --lossy #1",
    "tcp #2",
    "udp #2",
    "udp --lossy #2",
  ]);
  assert.deepEqual(
    doc.end.summary.map((s: { label: string; runs: number }) => [
      s.label,
      s.runs,
    ]),
    [["tcp", 2], ["udp", 2], ["udp --lossy", 2]],
  );
  assert.equal((await runPasa(["bench", "--runs", "0"])).code, 2);
});

Deno.test("a byte changed on the way fails the measurement, named where it differed", async () => {
  await using tmp = await tempDir();
  await using receiver = await startListening([
    "receive",
    "--keep",
    "--insecure",
    "--out",
    tmp.path,
  ]);
  await using proxy = startProxy(receiver.port, { flipAt: 1_500_000 });
  const r = await runPasa([
    "bench",
    "--to",
    `127.0.0.1:${proxy.port}`,
    "--insecure",
    "--size",
    "2MiB",
    "--json",
  ]);
  assert.equal(r.code, 1);
  const tcp = JSON.parse(r.stdout).end.modes[0] as Run;
  assert.equal(tcp.verified, false);
  assert.match(
    String(tcp.error),
    /differed from its generated pattern at byte/,
  );
  receiver.kill();
  await receiver.result();
});

Deno.test("pasa bench --rates sweeps UDP --lossy and --chart writes the SVG", async () => {
  await using tmp = await tempDir();
  const chart = join(tmp.path, "bench.svg");
  const r = await runPasa([
    "bench",
    "--size",
    "2MiB",
    "--rates",
    "50M,100M,100G",
    "--chart",
    chart,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /udp --lossy @ 50M/);
  assert.match(r.stdout, /udp --lossy @ 100M/);
  // No sender here sends 100 Gbit/s: the point says so, and what it sent.
  assert.match(
    r.stdout,
    /udp --lossy @ 100000M: offered 100000 Mbit\/s, but the sender sent only \d+: it could not send faster/,
  );
  assert.doesNotMatch(r.stdout, /@ 50M: offered/, "50M was reached");
  assert.match(
    r.stdout,
    /\[tcp\] 0\.00-/,
    "interval lines as iperf3 prints them",
  );
  assert.match(r.stdout, /Chart written to .*bench\.svg and .*bench\.png/);
  // The PNG beside it: a real image (the signature, then a 900-pixel-wide header).
  const png = await Deno.readFile(join(tmp.path, "bench.png"));
  assert.deepEqual([...png.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10]);
  assert.equal(new DataView(png.buffer).getUint32(16), 900, "its width");
  assert.ok(png.length > 20_000, `${png.length} bytes: text and lines drawn`);
  const svg = await Deno.readTextFile(chart);
  assert.equal([...svg.matchAll(/class="series"/g)].length, 5);
  assert.match(svg, /offered 100000M \(not reached\)/);
});

Deno.test("pasa bench --to a receive --keep measures there and leaves nothing on its disk", async () => {
  await using tmp = await tempDir();
  await using receiver = await startListening([
    "receive",
    "--keep",
    "--udp",
    "--out",
    tmp.path,
  ]);
  const r = await runPasa([
    "bench",
    "--to",
    `127.0.0.1:${receiver.port}`,
    "--size",
    "2MiB",
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const doc: Doc = JSON.parse(r.stdout);
  assert.equal(doc.start.embedded, false);
  assert.equal(doc.end.modes[0]!.verified, true);
  assert.equal(doc.end.modes[1]!.verified, true);
  receiver.kill();
  await receiver.result();
  assert.deepEqual(await listTree(tmp.path), []);
});

Deno.test("pasa bench --to a one-shot receiver says at once that it needs receive --keep, and tries nothing more", async () => {
  await using tmp = await tempDir();
  await using receiver = await startListening([
    "receive",
    "--udp",
    "--out",
    tmp.path,
  ]);
  const r = await runPasa([
    "bench",
    "--to",
    `127.0.0.1:${receiver.port}`,
    "--size",
    "2MiB",
    "--json",
  ]);
  assert.equal(r.code, 1);
  const doc: Doc = JSON.parse(r.stdout);
  assert.equal(doc.end.modes.length, 1, "the other modes are not tried");
  assert.match(
    String(doc.end.modes[0]!.error),
    /takes one transfer and then ends.*pasa receive --keep --udp/,
  );
  const ended = await receiver.result();
  assert.match(ended.stdout, /pasa receive --keep --udp there for pasa bench/);
  assert.deepEqual(await listTree(tmp.path), []);
});

Deno.test("a --keep receiver reports a measurement as one, and keeps nothing of it", async () => {
  await using tmp = await tempDir();
  await using receiver = await startListening([
    "receive",
    "--keep",
    "--udp",
    "--out",
    tmp.path,
  ]);
  const r = await runPasa([
    "bench",
    "--to",
    `127.0.0.1:${receiver.port}`,
    "--size",
    "2MiB",
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  receiver.kill();
  const said = events((await receiver.result()).stdout);
  const summaries = said.filter((e) => e.event === "summary");
  assert.equal(summaries.length, 3);
  assert.ok(summaries.every((e) => e.measurement === true));
  assert.ok(summaries.every((e) => e.incomplete === undefined));
  assert.equal(said.filter((e) => e.event === "kept").length, 0);
  assert.deepEqual(await listTree(tmp.path), []);
});

Deno.test("pasa bench fails with exit 1 and a JSON error when the receiver is not there", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const r = await runPasa([
    "bench",
    "--to",
    `127.0.0.1:${port}`,
    "--size",
    "1MiB",
    "--json",
  ]);
  assert.equal(r.code, 1);
  const doc: Doc = JSON.parse(r.stdout);
  assert.equal(doc.end.ok, false);
  assert.match(r.stdout, /connection refused/);
});

Deno.test("pasa bench with a bad rate exits 2, naming the flag it came from", async () => {
  const r = await runPasa(["bench", "--rates", "fast"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /Invalid --rates "fast"/);
  const link = await runPasa(["bench", "--link", "10"]);
  assert.equal(link.code, 2);
  assert.match(link.stderr, /Invalid --link "10": expected bits per second/);
});

Deno.test("pasa bench --reverse: the receive --keep sends, verified, and keeps nothing", async () => {
  await using tmp = await tempDir();
  await using receiver = await startListening([
    "receive",
    "--keep",
    "--udp",
    "--out",
    tmp.path,
  ]);
  const r = await runPasa([
    "bench",
    "--to",
    `127.0.0.1:${receiver.port}`,
    "--reverse",
    "--size",
    "2MiB",
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as Doc & { start: { reverse: boolean } };
  assert.equal(doc.start.reverse, true);
  assert.deepEqual(doc.end.modes.map((m) => [m.label, m.bytes > 0]), [
    ["tcp", true],
    ["udp", true],
    ["udp --lossy", true],
  ]);
  assert.equal(doc.end.modes[0]!.verified, true);
  assert.equal(doc.end.modes[1]!.verified, true);
  receiver.kill();
  await receiver.result();
  assert.deepEqual(await listTree(tmp.path), []);
});

Deno.test("two receivers meeting still get a role error: only a bench request may do that; the listening one goes on waiting for a sender", async () => {
  await using tmp = await tempDir();
  await using receiver = await startListening(["receive", "--out", tmp.path]);
  const other = await runPasa([
    "receive",
    "--from",
    `127.0.0.1:${receiver.port}`,
    "--out",
    tmp.path,
  ]);
  assert.equal(other.code, 1);
  assert.match(
    other.stderr,
    /Both sides are receivers: run pasa send on the other machine/,
  );
  const sent = await sendTo(receiver.port, join(TESTFILES, "one-byte.bin"));
  assert.equal(sent.code, 0, sent.stderr);
  assert.equal((await receiver.result()).code, 0);
});

Deno.test("pasa bench --parallel splits TCP over several connections and counts them together", async () => {
  const r = await runPasa([
    "bench",
    "--size",
    "3MiB",
    "--parallel",
    "3",
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  const tcp = doc.end.modes[0];
  assert.deepEqual(
    [tcp.label, tcp.streams, tcp.bytes, tcp.verified],
    ["tcp -P 3", 3, 3 * 1024 * 1024, true],
  );
  assert.equal(doc.end.modes[1].streams, 1, "UDP runs stay one stream");
  const file = await runPasa(["bench", "--file", "x", "--parallel", "2"]);
  assert.equal(file.code, 2);
  assert.match(file.stderr, /not with --parallel/);
});

/**
 * The benchmark's lab part: a file sent between two hosts of a LAN built
 * inside this machine (scripts/lab.ts: MTU 1500, a rate-limited link,
 * optional random loss), by pasa over TCP and UDP and, in the same run,
 * alternating, by nc (TCP), UFTP (reliable UDP) and iperf3 (UDP at the
 * link's rate, memory to memory). Prints each tool's median goodput, pasa's
 * ratios to its peers, and both sides' peak RSS and CPU time.
 *
 * @module
 */

import { join } from "node:path";
import { type Lab, type LabHost, startLab } from "../scripts/lab.ts";
import { firstJsonLine, pasaArgv, quietReceiveArgs } from "../scripts/pasa.ts";

/** One side's cost, from GNU time. */
export interface SideCost {
  rss: number;
  cpu: number;
}

/** One timed transfer. */
export interface LabRun {
  seconds: number;
  send?: SideCost;
  recv?: SideCost;
  /** Extra words for the table (iperf3's loss). */
  note?: string;
}

/** What {@link labBench} needs. */
export interface LabBenchOptions {
  src: string;
  size: number;
  dir: string;
  runs: number;
  rate: string;
  loss: number;
  say: (text: string) => void;
}

const GNU_TIME = "/usr/bin/time";
const TIME_FORMAT = "lab-cost %M %U %S";

async function has(command: string): Promise<boolean> {
  return await new Deno.Command("sh", {
    args: ["-c", `command -v ${command}`],
    stdout: "null",
    stderr: "null",
  }).output().then((o) => o.success, () => false);
}

/** A command on `host`, under GNU time. */
function onHost(
  lab: Lab,
  host: LabHost,
  argv: string[],
  stdout: "piped" | "null" = "null",
): Deno.Command {
  const [cmd, ...args] = [
    ...lab.on(host),
    GNU_TIME,
    "-f",
    TIME_FORMAT,
    ...argv,
  ];
  return new Deno.Command(cmd!, {
    args,
    stdout,
    stderr: "piped",
    env: { NO_COLOR: "1" },
  });
}

function costOf(stderr: Uint8Array): SideCost | undefined {
  const m = /lab-cost (\d+) ([\d.]+) ([\d.]+)/.exec(
    new TextDecoder().decode(stderr),
  );
  return m
    ? { rss: Number(m[1]) * 1024, cpu: Number(m[2]) + Number(m[3]) }
    : undefined;
}

function withCosts(
  seconds: number,
  send: Uint8Array,
  recv: Uint8Array,
): LabRun {
  const run: LabRun = { seconds };
  const s = costOf(send), r = costOf(recv);
  if (s) run.send = s;
  if (r) run.recv = r;
  return run;
}

async function pasaRun(
  lab: Lab,
  o: LabBenchOptions,
  flags: string[],
): Promise<LabRun> {
  const [a, b] = lab.hosts as [LabHost, LabHost];
  const out = join(o.dir, "lab-out");
  await Deno.remove(out, { recursive: true }).catch(() => {});
  const receiver = onHost(
    lab,
    b,
    pasaArgv(quietReceiveArgs(flags, b.address, out)),
    "piped",
  ).spawn();
  const recvErr = new Response(receiver.stderr).bytes();
  const { line, rest } = await firstJsonLine(receiver.stdout);
  const code = typeof line.code === "string" ? ["--code", line.code] : [];
  const started = performance.now();
  const sender = onHost(
    lab,
    a,
    pasaArgv([
      "send",
      ...flags,
      o.src,
      "--to",
      `${b.address}:${line.port}`,
      ...code,
      "-q",
    ]),
  ).spawn();
  const [s, r] = await Promise.all([sender.output(), receiver.status]);
  const seconds = (performance.now() - started) / 1000;
  await rest();
  await Deno.remove(out, { recursive: true }).catch(() => {});
  if (s.code !== 0 || r.code !== 0) {
    throw new Error(
      `pasa ${flags.join(" ")} failed on the lab: ${
        new TextDecoder().decode(s.stderr)
      }`,
    );
  }
  return withCosts(seconds, s.stderr, await recvErr);
}

async function ncRun(lab: Lab, o: LabBenchOptions): Promise<LabRun> {
  const [a, b] = lab.hosts as [LabHost, LabHost];
  const out = join(o.dir, "lab-nc.bin");
  const recv = onHost(lab, b, [
    "sh",
    "-c",
    `nc -l ${b.address} 9100 > '${out}'`,
  ]).spawn();
  const started = performance.now();
  // nc -l has no "ready" signal: retry the sender until the listener is up.
  let send: Deno.CommandOutput | undefined;
  for (let attempt = 0; attempt < 200; attempt++) {
    send = await onHost(lab, a, [
      "sh",
      "-c",
      `nc -N ${b.address} 9100 < '${o.src}'`,
    ]).output();
    if (send.code === 0) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  const r = await recv.output();
  await Deno.remove(out).catch(() => {});
  return withCosts(
    (performance.now() - started) / 1000,
    send!.stderr,
    r.stderr,
  );
}

async function uftpRun(lab: Lab, o: LabBenchOptions): Promise<LabRun> {
  const [a, b] = lab.hosts as [LabHost, LabHost];
  const out = join(o.dir, "lab-uftp");
  await Deno.remove(out, { recursive: true }).catch(() => {});
  await Deno.mkdir(out, { recursive: true });
  const daemon = onHost(lab, b, [
    ...["uftpd", "-d", "-p", "1044", "-U", "0x00000002", "-D", out],
  ]).spawn();
  await new Promise((r) => setTimeout(r, 500)); // uftpd prints no "ready"
  const started = performance.now();
  const send = await onHost(lab, a, [
    ...["timeout", "300", "uftp", "-M", b.address, "-p", "1044"],
    ...["-U", "0x00000001", "-H", "0x00000002", "-Y", "none", "-R", "-1"],
    o.src,
  ]).output();
  const seconds = (performance.now() - started) / 1000;
  // uftpd runs until told to stop, and GNU time passes on no SIGINT: stop
  // uftpd itself (this one, by its command line).
  await new Deno.Command("pkill", {
    args: ["-INT", "-f", `^uftpd -d -p 1044 -U 0x00000002 -D ${out}$`],
  }).output();
  const d = await daemon.output();
  const copy = join(out, o.src.slice(o.src.lastIndexOf("/") + 1));
  const copied = await Deno.stat(copy).then((s) => s.size, () => 0);
  await Deno.remove(out, { recursive: true }).catch(() => {});
  if (send.code !== 0 || copied !== o.size) {
    throw new Error(`UFTP failed on the lab (copied ${copied} bytes)`);
  }
  return withCosts(seconds, send.stderr, d.stderr);
}

async function iperfRun(lab: Lab, o: LabBenchOptions): Promise<LabRun> {
  const [a, b] = lab.hosts as [LabHost, LabHost];
  const server = onHost(lab, b, [
    ...["iperf3", "-s", "-1", "-B", b.address, "-p", "5201"],
  ]).spawn();
  await new Promise((r) => setTimeout(r, 300));
  const client = await onHost(
    lab,
    a,
    [
      ...["iperf3", "-c", b.address, "-p", "5201", "-u", "-b", o.rate],
      ...["-l", "1472", "-n", String(o.size), "--json"],
    ],
    "piped",
  ).output();
  const s = await server.output();
  const text = new TextDecoder().decode(client.stdout);
  const report = JSON.parse(text.slice(text.indexOf("{")));
  const end = report.end?.sum_received ?? report.end?.sum;
  if (!end?.bits_per_second) {
    throw new Error(`iperf3 gave no result: ${report.error ?? "no summary"}`);
  }
  // Goodput at the receiving end (what arrived, over its own time), as
  // the time the whole size would take at it.
  const run = withCosts(
    o.size / (end.bits_per_second / 8),
    client.stderr,
    s.stderr,
  );
  run.note = `${(end.lost_percent ?? 0).toFixed(1)}% lost`;
  return run;
}

/** The middle of `xs` (the mean of the two middle ones for an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * Runs each of `runners` once per round, `runs` rounds, saying each round's
 * times; one failing (a peer, or pasa) is kept with its reason, not the
 * end of the run.
 */
export async function alternate<R extends { seconds: number }>(
  runners: [string, () => Promise<R>][],
  runs: number,
  label: string,
  say: (text: string) => void,
): Promise<{ results: Map<string, R[]>; failures: Map<string, string> }> {
  const results = new Map<string, R[]>(runners.map(([k]) => [k, []]));
  const failures = new Map<string, string>();
  for (let i = 0; i < runs; i++) {
    const line: string[] = [];
    for (const [name, run] of runners) {
      try {
        const r = await run();
        results.get(name)!.push(r);
        line.push(`${name} ${r.seconds.toFixed(2)} s`);
      } catch (error) {
        failures.set(name, (error as Error).message);
        line.push(`${name} failed`);
      }
    }
    say(`${label} run ${i + 1}/${runs}: ${line.join(", ")}`);
  }
  return { results, failures };
}

/** Runs the lab part and prints its table. */
export async function labBench(o: LabBenchOptions): Promise<void> {
  const tools: [string, string | undefined][] = [
    ["nc", (await has("nc")) ? undefined : "netcat-openbsd"],
    ["uftp", (await has("uftp")) ? undefined : "uftp"],
    ["iperf3", (await has("iperf3")) ? undefined : "iperf3"],
  ];
  const missing = tools.filter(([, pkg]) => pkg).map(([, pkg]) => pkg);
  if (!(await has(GNU_TIME))) missing.push("time");
  await using lab = await startLab({
    rate: o.rate,
    ...(o.loss > 0 ? { loss: { datagrams: o.loss } } : {}),
  });
  const runners: [string, () => Promise<LabRun>][] = [
    ["pasa (TCP)", () => pasaRun(lab, o, [])],
    ["pasa --udp", () => pasaRun(lab, o, ["--udp"])],
  ];
  if (await has("nc")) runners.push(["nc (TCP)", () => ncRun(lab, o)]);
  if (await has("uftp")) runners.push(["UFTP", () => uftpRun(lab, o)]);
  if (await has("iperf3")) {
    runners.push([`iperf3 -u -b ${o.rate}`, () => iperfRun(lab, o)]);
  }
  const { results, failures } = await alternate(runners, o.runs, "lab", o.say);
  const mbps = (name: string) => {
    const rs = results.get(name);
    return rs && rs.length
      ? o.size / median(rs.map((r) => r.seconds)) / 1e6
      : 0;
  };
  o.say(
    `\nLab: two hosts, MTU 1500, ${o.rate}, ${
      o.loss > 0 ? `${o.loss * 100}% of datagrams lost` : "no loss"
    }; ${(o.size / 2 ** 20).toFixed(0)} MiB, median of ${o.runs}:`,
  );
  const gib = o.size / 2 ** 30;
  const costs = (rs: LabRun[], side: "send" | "recv") => {
    const xs = rs.map((r) => r[side]).filter((c) => c !== undefined);
    if (xs.length === 0) return "?";
    const rss = Math.max(...xs.map((c) => c!.rss)) / 1e6;
    const cpu = median(xs.map((c) => c!.cpu)) / gib;
    return `${rss.toFixed(0)} MB, ${cpu.toFixed(2)} core-s/GiB`;
  };
  for (const [name, rs] of results) {
    if (rs.length === 0) {
      o.say(`  ${name.padEnd(20)} failed: ${failures.get(name)}`);
      continue;
    }
    const notes = rs.map((r) => r.note).filter(Boolean);
    o.say(
      `  ${name.padEnd(20)} ${mbps(name).toFixed(1).padStart(6)} MB/s  ` +
        `send ${costs(rs, "send")}; receive ${costs(rs, "recv")}` +
        (notes.length ? `  (${notes.join(", ")})` : ""),
    );
  }
  const ratio = (a: string, b: string) =>
    mbps(b) > 0 ? (mbps(a) / mbps(b)).toFixed(2) : "-";
  o.say(
    `  pasa TCP / nc = ${ratio("pasa (TCP)", "nc (TCP)")}; ` +
      `pasa --udp / UFTP = ${ratio("pasa --udp", "UFTP")}; ` +
      `pasa --udp / pasa TCP = ${ratio("pasa --udp", "pasa (TCP)")}`,
  );
  o.say(
    "  (pasa: encrypted, SHA-256 on both ends, fsync; nc, UFTP -Y none and iperf3: none of these)",
  );
  for (const [name, why] of failures) {
    if (results.get(name)!.length > 0) o.say(`  (${name} failed once: ${why})`);
  }
  if (missing.length) {
    o.say(
      `  not measured, not installed: apt-get install -y ${missing.join(" ")}`,
    );
  }
}

/**
 * Whole-transfer benchmark: a generated file sent file-to-file over
 * loopback by pasa (SHA-256 on both ends, fsync before rename) and, in the
 * same run, by nc when installed (no hash, no fsync) and by nc followed by
 * an fsync of the received file (the same durability pasa gives).
 * pasa runs encrypted (the default) and `--insecure`, over TCP and UDP, so
 * the cost of encryption shows as a ratio measured in the same run.
 * Prints each median time, the ratios, and pasa's peak RSS on each side.
 *
 * Then, as root, the same on a lab of two hosts (bench/lab.ts): pasa over
 * TCP and UDP beside nc, UFTP and iperf3, with and without random loss;
 * and one sender to `--group` receivers (bench/group.ts) beside UFTP's
 * multicast.
 *
 *   deno task bench [--size 1GiB] [--runs 3] [--dir DIR]
 *                   [--lab 1gbit|off] [--lab-loss 0,0.02|none] [--lab-size 256MiB]
 *                   [--lab-only] [--many 10000|0] [--group 4|0]
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { parseSize } from "../lib/units.ts";
import { firstJsonLine, pasaArgv, quietReceiveArgs } from "../scripts/pasa.ts";
import { labUnavailable } from "../scripts/lab.ts";
import { labBench } from "./lab.ts";
import { groupBench } from "./group.ts";
import { floorLine, floorOf } from "./floor.ts";
import { cryptoCosts } from "../lib/crypto_costs.ts";
import {
  generateTree,
  hasRsync,
  receiveFloor,
  rsyncDaemon,
  tarNc,
} from "./many.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    size: { type: "string", default: "1GiB" },
    runs: { type: "string", default: "3" },
    dir: { type: "string" },
    lab: { type: "string", default: "1gbit" },
    "lab-loss": { type: "string", default: "0,0.02" },
    "lab-size": { type: "string", default: "256MiB" },
    "lab-only": { type: "boolean", default: false },
    many: { type: "string", default: "10000" },
    group: { type: "string", default: "4" },
  },
});
const size = parseSize(values.size!);
const runs = Math.max(1, Number(values.runs));
const dir = values.dir ?? await Deno.makeTempDir({ prefix: "pasa-bench-" });
await Deno.mkdir(dir, { recursive: true }); // a --dir that does not exist yet
const say = (text: string) =>
  Deno.stdout.writeSync(new TextEncoder().encode(text + "\n"));

/** Generates `bytes` of incompressible data without holding it in memory. */
async function generate(path: string, bytes: number): Promise<void> {
  const block = new Uint8Array(1 << 20);
  for (let i = 0; i < block.length; i += 65536) {
    crypto.getRandomValues(block.subarray(i, i + 65536));
  }
  using file = await Deno.open(path, {
    write: true,
    create: true,
    truncate: true,
  });
  const view = new DataView(block.buffer);
  for (let done = 0, n = 0; done < bytes; n++) {
    view.setUint32(0, n); // no two blocks alike
    const piece = block.subarray(0, Math.min(block.length, bytes - done));
    for (let at = 0; at < piece.length;) {
      at += await file.write(piece.subarray(at));
    }
    done += piece.length;
  }
}

const GNU_TIME = "/usr/bin/time";
const hasTime = await Deno.stat(GNU_TIME).then(() => true, () => false);

/** pasa's command, under GNU time (which prints the peak RSS) when installed. */
function pasaTimed(args: string[], stdout: "piped" | "null"): Deno.Command {
  const argv = pasaArgv(args);
  const [cmd, ...rest] = hasTime
    ? [GNU_TIME, "-f", "peak-rss-kb %M cpu %U %S", ...argv]
    : argv;
  return new Deno.Command(cmd!, {
    args: rest,
    stdout,
    stderr: "piped",
    env: { NO_COLOR: "1" },
  });
}

function rssOf(stderr: Uint8Array): number | undefined {
  const m = /peak-rss-kb (\d+)/.exec(new TextDecoder().decode(stderr));
  return m ? Number(m[1]) * 1024 : undefined;
}

/** User + system seconds, from GNU time. */
function cpuOf(stderr: Uint8Array): number | undefined {
  const m = /cpu ([\d.]+) ([\d.]+)/.exec(new TextDecoder().decode(stderr));
  return m ? Number(m[1]) + Number(m[2]) : undefined;
}

function freePort(): number {
  using l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return (l.addr as Deno.NetAddr).port;
}

interface Run {
  seconds: number;
  sendRss?: number;
  recvRss?: number;
  sendCpu?: number;
  recvCpu?: number;
}

async function pasaOnce(
  src: string,
  out: string,
  mode: string[] = [],
  keepOut = false,
): Promise<Run> {
  if (!keepOut) await Deno.remove(out, { recursive: true }).catch(() => {});
  const { receiver, port, code, rest } = await startReceiver(out, mode);
  const recvErr = new Response(receiver.stderr).bytes();
  const started = performance.now();
  const sender = pasaTimed([
    "send",
    ...mode,
    src,
    "--to",
    `127.0.0.1:${port}`,
    ...code,
    "-q",
  ], "null").spawn();
  const [s, r] = await Promise.all([sender.output(), receiver.status]);
  const seconds = (performance.now() - started) / 1000;
  await rest();
  if (s.code !== 0 || r.code !== 0) {
    throw new Error(`pasa failed: ${new TextDecoder().decode(s.stderr)}`);
  }
  const run: Run = { seconds };
  const recvStderr = await recvErr;
  const sendRss = rssOf(s.stderr);
  const recvRss = rssOf(recvStderr);
  if (sendRss !== undefined) run.sendRss = sendRss;
  if (recvRss !== undefined) run.recvRss = recvRss;
  const sendCpu = cpuOf(s.stderr), recvCpu = cpuOf(recvStderr);
  if (sendCpu !== undefined) run.sendCpu = sendCpu;
  if (recvCpu !== undefined) run.recvCpu = recvCpu;
  return run;
}

/** A quiet receiver on 127.0.0.1 writing into `out`, and the port it took. */
async function startReceiver(out: string, mode: string[]) {
  const receiver = pasaTimed(
    quietReceiveArgs(mode, "127.0.0.1", out),
    "piped",
  ).spawn();
  const { line, rest } = await firstJsonLine(receiver.stdout);
  // The code the receiver made up, for the sender (none with --insecure).
  const code = typeof line.code === "string" ? ["--code", line.code] : [];
  return { receiver, port: line.port as number, code, rest };
}

/** Seconds from the sender's start to the first byte in the receiver's .part. */
async function firstByte(src: string, out: string): Promise<number> {
  await Deno.remove(out, { recursive: true }).catch(() => {});
  const part = join(out, "bench-source.bin.pasa.part");
  const { receiver, port, code, rest } = await startReceiver(out, []);
  const started = performance.now();
  const sender = pasaTimed([
    "send",
    src,
    "--to",
    `127.0.0.1:${port}`,
    ...code,
    "-q",
  ], "null").spawn();
  let seconds = NaN;
  for (let i = 0; i < 60_000 && Number.isNaN(seconds); i++) {
    if ((await Deno.stat(part).then((f) => f.size, () => 0)) > 0) {
      seconds = (performance.now() - started) / 1000;
    } else await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all([
    sender.output(),
    receiver.status,
    rest(),
    receiver.stderr.cancel(),
  ]);
  return seconds;
}

/** A transfer resumed from a .part holding the first half of the file. */
async function resumeHalf(src: string, out: string): Promise<Run> {
  await Deno.remove(out, { recursive: true }).catch(() => {});
  await Deno.mkdir(out, { recursive: true });
  {
    using from = await Deno.open(src);
    using to = await Deno.open(join(out, "bench-source.bin.pasa.part"), {
      write: true,
      create: true,
    });
    const buf = new Uint8Array(1 << 20);
    for (let left = Math.floor(size / 2); left > 0;) {
      const n = await from.read(buf.subarray(0, Math.min(buf.length, left)));
      if (n === null) break;
      await to.write(buf.subarray(0, n));
      left -= n;
    }
  }
  return await pasaOnce(src, out, [], true);
}

/** nc through a shell, so its output goes straight to the file as users run it. */
async function ncShell(src: string, out: string, fsync: boolean): Promise<Run> {
  const port = freePort();
  const recv = shTimed(
    `nc -l -p ${port} > '${out}'${fsync ? ` && sync '${out}'` : ""}`,
  ).spawn();
  const recvErr = new Response(recv.stderr).bytes();
  // nc -l has no "ready" signal: retry the sender until the listener is up.
  const started = performance.now();
  let sendCpu: number | undefined;
  for (let attempt = 0; attempt < 200; attempt++) {
    const send = await shTimed(`nc -N 127.0.0.1 ${port} < '${src}'`).output();
    if (send.code === 0) {
      sendCpu = cpuOf(send.stderr);
      break;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  await recv.status;
  const run: Run = { seconds: (performance.now() - started) / 1000 };
  const recvCpu = cpuOf(await recvErr);
  if (sendCpu !== undefined) run.sendCpu = sendCpu;
  if (recvCpu !== undefined) run.recvCpu = recvCpu;
  return run;
}

/** A shell command, under GNU time when installed (its CPU then on stderr). */
function shTimed(script: string): Deno.Command {
  const argv = hasTime
    ? [GNU_TIME, "-f", "cpu %U %S", "sh", "-c", script]
    : ["sh", "-c", script];
  return new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdout: "null",
    stderr: "piped",
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const mb = (bytes: number) => (bytes / 1e6).toFixed(0);
const hasNc = await new Deno.Command("sh", {
  args: ["-c", "command -v nc"],
  stdout: "null",
}).output()
  .then((o) => o.success, () => false);

/** The loopback part: pasa against nc, file to file. */
async function loopbackBench(): Promise<void> {
  const src = join(dir, "bench-source.bin");
  say(`Generating ${values.size} (${size} bytes) in ${dir} ...`);
  await generate(src, size);
  const modes: Record<string, string[]> = {
    pasa: [],
    "pasa --insecure": ["--insecure"],
    "pasa --udp": ["--udp"],
    "pasa --udp --insecure": ["--udp", "--insecure"],
  };
  const results: Record<string, Run[]> = {
    ...Object.fromEntries(Object.keys(modes).map((k) => [k, []])),
    nc: [],
    "nc + fsync": [],
  };
  for (let i = 0; i < runs; i++) {
    for (const [name, flags] of Object.entries(modes)) {
      results[name]!.push(await pasaOnce(src, join(dir, "pasa-out"), flags));
    }
    if (hasNc) {
      results.nc!.push(await ncShell(src, join(dir, "nc-out.bin"), false));
      results["nc + fsync"]!.push(
        await ncShell(src, join(dir, "nc-out.bin"), true),
      );
    }
    say(
      `run ${i + 1}/${runs}: ${
        Object.entries(results).filter(([, r]) => r[i]).map(([k, r]) =>
          `${k} ${r[i]!.seconds.toFixed(2)} s`
        ).join(", ")
      }`,
    );
  }
  say(
    `\nFile to file over loopback, ${values.size}, median of ${runs} (disk: ${dir}):`,
  );
  const pasa = median(results.pasa!.map((r) => r.seconds));
  for (const [name, rs] of Object.entries(results)) {
    if (rs.length === 0) continue;
    const t = median(rs.map((r) => r.seconds));
    say(
      `  ${name.padEnd(22)} ${t.toFixed(2)} s  ${
        (size / t / 1e6).toFixed(0)
      } MB/s${
        name === "pasa" ? "" : `  pasa/${name} = ${(pasa / t).toFixed(2)}`
      }`,
    );
  }
  const m = (name: string) => median(results[name]!.map((r) => r.seconds));
  const udp = m("pasa --udp");
  say(
    `  UDP goodput / TCP goodput = ${
      (pasa / udp).toFixed(2)
    } (pasa --udp against pasa)`,
  );
  say(
    `  encrypted / --insecure throughput: TCP ${
      (m("pasa --insecure") / pasa).toFixed(2)
    }, UDP ${(m("pasa --udp --insecure") / udp).toFixed(2)} (goal: 0.85)`,
  );
  if (!hasNc) {
    say(
      "  nc is not installed: no comparison (apt-get install netcat-openbsd)",
    );
  }
  const ttfb = await firstByte(src, join(dir, "pasa-out"));
  say(
    `  time to first byte: ${
      ttfb.toFixed(3)
    } s, start-up included (no pass over the ${values.size} before sending)`,
  );
  const half = await resumeHalf(src, join(dir, "pasa-out"));
  say(
    `  resume at 50%: ${half.seconds.toFixed(2)} s, against ${
      pasa.toFixed(2)
    } s for the whole file ` +
      `(both ends re-hash the kept half: ${(half.seconds / pasa).toFixed(2)}x)`,
  );
  if (hasTime) {
    const gib = size / 2 ** 30;
    for (const name of Object.keys(modes)) {
      const rs = results[name]!;
      const sendRss = Math.max(...rs.map((r) => r.sendRss ?? 0));
      const recvRss = Math.max(...rs.map((r) => r.recvRss ?? 0));
      const cpu = (side: "sendCpu" | "recvCpu") =>
        (median(rs.map((r) => r[side] ?? NaN)) / gib).toFixed(2);
      say(
        `  ${name.padEnd(22)} peak RSS sender ${mb(sendRss)} MB, receiver ${
          mb(recvRss)
        } MB; CPU per GiB sender ${cpu("sendCpu")}, receiver ${
          cpu("recvCpu")
        } core-s`,
      );
    }
    if (hasNc) await floorPart(results, gib);
  } else {say(
      `  pasa peak RSS: not measured (needs GNU time: apt-get install time)`,
    );}
  say(
    "  (pasa hashes SHA-256 on both ends and fsyncs before renaming, over TCP or UDP; nc does neither)",
  );
}

/**
 * pasa's CPU over TCP (both ends, per GiB) against the floor: nc in the same
 * run plus SHA-256 and ChaCha20-Poly1305 on both ends at this runtime's
 * in-process speeds. Start-up (Deno, pairing) is measured on a 1-byte file.
 */
async function floorPart(
  results: Record<string, Run[]>,
  gib: number,
): Promise<void> {
  const both = (r: Run) => (r.sendCpu ?? NaN) + (r.recvCpu ?? NaN);
  const perGib = (name: string) => median(results[name]!.map(both)) / gib;
  const costs = cryptoCosts();
  const floor = floorOf(perGib("nc"), costs);
  const tiny = join(dir, "one-byte.bin");
  await Deno.writeFile(tiny, new Uint8Array([7]));
  const startup = async (mode: string[]) => {
    const rs: Run[] = [];
    for (let i = 0; i < 3; i++) {
      rs.push(await pasaOnce(tiny, join(dir, "pasa-out"), mode));
    }
    return median(rs.map(both));
  };
  say(
    `\nCPU of a TCP transfer against its floor, both ends, per GiB: nc ${
      floor.nc.toFixed(2)
    } core-s (same run) + SHA-256 ${
      costs.sha256.toFixed(2)
    } and ChaCha20-Poly1305 ${
      costs.chacha20poly1305.toFixed(2)
    } per end (in-process, 256 KiB calls):`,
  );
  say(
    floorLine(
      "pasa --insecure",
      perGib("pasa --insecure"),
      floor.insecure,
      await startup(["--insecure"]),
      gib,
    ),
  );
  say(
    floorLine(
      "pasa (encrypted)",
      perGib("pasa"),
      floor.encrypted,
      await startup([]),
      gib,
    ),
  );
}

/** A folder of many small files: pasa against `tar | nc`, same run. */
async function manyPart(): Promise<void> {
  const count = Number(values.many);
  if (!(count > 0)) return;
  const src = join(dir, "many-src");
  await Deno.remove(src, { recursive: true }).catch(() => {});
  say(`\nGenerating ${count} files of 100 B to 8 KB in ${src} ...`);
  const bytes = await generateTree(src, count);
  const out = join(dir, "many-out");
  const pasa: Run[] = [];
  const again: Run[] = [];
  const tar: number[] = [];
  const rsync = await hasRsync();
  const rs: number[] = [], rsSync: number[] = [], rsAgain: number[] = [];
  const floor: number[] = [], durableFloor: number[] = [];
  const floorOut = join(dir, "floor-out");
  const rsOut = join(dir, "rsync-out");
  for (let i = 0; i < runs; i++) {
    pasa.push(await pasaOnce(src, out));
    // The same folder again, every file already there (a rerun, a resume).
    again.push(await pasaOnce(src, out, [], true));
    if (hasNc) tar.push(await tarNc(src, join(dir, "tar-out"), freePort()));
    floor.push(await receiveFloor(src, floorOut, false));
    durableFloor.push(await receiveFloor(src, floorOut, true));
    if (rsync) {
      rs.push(await rsyncDaemon(src, rsOut, freePort(), []));
      rsSync.push(await rsyncDaemon(src, rsOut, freePort(), ["--fsync"]));
      rsAgain.push(await rsyncDaemon(src, rsOut, freePort(), [], true));
    }
  }
  const p = median(pasa.map((r) => r.seconds));
  say(
    `${count} files, ${mb(bytes)} MB, over loopback, median of ${runs}:`,
  );
  const rss = (side: "sendRss" | "recvRss") =>
    mb(Math.max(...pasa.map((r) => r[side] ?? 0)));
  say(
    `  pasa (encrypted)       ${p.toFixed(2)} s  ${
      (count / p).toFixed(0)
    } files/s; peak RSS sender ${rss("sendRss")} MB, receiver ${
      rss("recvRss")
    } MB`,
  );
  if (tar.length > 0) {
    const t = median(tar);
    say(
      `  tar c | nc -> tar x    ${t.toFixed(2)} s  ${
        (count / t).toFixed(0)
      } files/s  pasa/tar = ${(p / t).toFixed(1)} (tar: no hash, no fsync)`,
    );
  }
  {
    const t = tar.length > 0 ? median(tar) : undefined;
    const line = (what: string, times: number[], note: string) => {
      const f = median(times);
      say(
        `  ${what.padEnd(21)}  ${f.toFixed(2)} s  ${
          (count / f).toFixed(0)
        } files/s${
          t ? `  floor/tar = ${(f / t).toFixed(1)}` : ""
        }  pasa/floor = ${(p / f).toFixed(1)} (${note})`,
      );
    };
    // What any receiver keeping pasa's promise must do here, and no more.
    line(
      "runtime floor",
      floor,
      "create .pasa.part, write, rename each file: nothing sent, hashed or synced",
    );
    line(
      "runtime floor, synced",
      durableFloor,
      "the same, synced 256 at a time",
    );
  }
  if (rs.length > 0) {
    const line = (what: string, times: number[], note: string) => {
      const t = median(times);
      say(
        `  ${what.padEnd(21)}  ${t.toFixed(2)} s  ${
          (count / t).toFixed(0)
        } files/s  pasa/rsync = ${(p / t).toFixed(1)} (${note})`,
      );
    };
    line("rsync -a (daemon)", rs, "no fsync");
    line("rsync -a --fsync", rsSync, "each file synced");
  }
  const a = median(again.map((r) => r.seconds));
  const rssAgain = (side: "sendRss" | "recvRss") =>
    mb(Math.max(...again.map((r) => r[side] ?? 0)));
  say(
    `  pasa again, all there  ${
      a.toFixed(2)
    } s  (taken by size and time); peak RSS sender ${
      rssAgain("sendRss")
    } MB, receiver ${rssAgain("recvRss")} MB` +
      (rsAgain.length > 0
        ? `; rsync -a again ${median(rsAgain).toFixed(2)} s`
        : ""),
  );
  await Deno.remove(src, { recursive: true }).catch(() => {});
  await Deno.remove(out, { recursive: true }).catch(() => {});
  await Deno.remove(join(dir, "tar-out"), { recursive: true }).catch(() => {});
  await Deno.remove(rsOut, { recursive: true }).catch(() => {});
}

/** The lab part, when this machine can build one. */
async function labPart(): Promise<void> {
  if (values.lab === "off") return;
  const why = await labUnavailable();
  if (why) {
    say(`\nLab: not measured: ${why}`);
    return;
  }
  const labSize = parseSize(values["lab-size"]!);
  const src = join(dir, "lab-source.bin");
  say(`\nGenerating ${values["lab-size"]} for the lab in ${dir} ...`);
  await generate(src, labSize);
  // --lab-loss none: the one-to-many part alone.
  const losses = values["lab-loss"] === "none"
    ? []
    : values["lab-loss"]!.split(",").map(Number);
  for (const loss of losses) {
    await labBench({
      src,
      size: labSize,
      dir,
      runs,
      rate: values.lab!,
      loss,
      say,
    });
  }
  const receivers = Number(values.group);
  if (receivers > 0) {
    await groupBench({
      src,
      size: labSize,
      dir,
      runs,
      rate: values.lab!,
      receivers,
      say,
    });
  }
}

try {
  if (!values["lab-only"]) {
    await loopbackBench();
    await manyPart();
  }
  await labPart();
} finally {
  if (values.dir === undefined) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

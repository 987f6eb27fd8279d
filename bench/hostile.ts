/**
 * The hostile review's attacks, timed, against a pasa receiver on
 * loopback: this checkout's, or another's (`--pasa DIR`, e.g. a worktree of
 * an older commit) to compare before and after a fix in one run. Every
 * attack is bounded in count and time; the table says what the receiver
 * did.
 *
 *   deno task bench:hostile [--pasa DIR] [--only NAME,...]
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Entry, Message } from "../lib/protocol.ts";
import { firstJsonLine, pasaFlags, ROOT } from "../scripts/pasa.ts";
import { peakRss, TEST_CODE } from "../tests/helpers.ts";
import { connectAsSender, helloOnly, resetStorm } from "../tests/peer.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { pasa: { type: "string" }, only: { type: "string" } },
});
const PASA = values.pasa ?? ROOT;
const ONLY = values.only?.split(",");

/** A `pasa receive --keep` from the checkout at PASA, on a free port. */
async function receiver(out: string, ...flags: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--config",
      join(PASA, "deno.json"),
      ...pasaFlags(),
      join(PASA, "main.ts"),
      "receive",
      "--keep",
      "--port",
      "0",
      "--json",
      "--out",
      out,
      ...flags,
    ],
    env: { PASA_CODE: TEST_CODE, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const { line } = await firstJsonLine(child.stdout);
  const port = line.port as number;
  let exited: number | undefined;
  const status = child.status.then((s) => (exited = s.code));
  return {
    port,
    pid: child.pid,
    exited: () => exited,
    async stop() {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await status;
    },
  };
}

/** `pasa send` (this checkout's) to `port`: exit code and seconds. */
async function send(port: number, path: string) {
  const started = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      ...pasaFlags(),
      join(ROOT, "main.ts"),
      "send",
      path,
      "--timeout",
      "20",
      "--to",
      `127.0.0.1:${port}`,
    ],
    env: { PASA_CODE: TEST_CODE },
    stdout: "null",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr).trim().split("\n").at(-1);
  return {
    code: out.code,
    seconds: (performance.now() - started) / 1000,
    stderr: stderr ?? "",
  };
}

/** Resolves with `promise`, or with undefined after `ms`. */
function bounded<T>(ms: number, promise: Promise<T>): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms))),
  ]).finally(() => clearTimeout(timer));
}

type Row = [attack: string, outcome: string];

/** CPU seconds (user + system) a process has used so far (Linux), or null. */
async function cpuSeconds(pid: number): Promise<number | null> {
  const out = await new Deno.Command("cat", {
    args: [`/proc/${pid}/stat`],
    stdout: "piped",
    stderr: "null",
  }).output().catch(() => null);
  if (!out?.success) return null;
  // Fields 14 and 15, after the parenthesised command name, in clock ticks.
  const text = new TextDecoder().decode(out.stdout);
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const attacks: Record<string, (dir: string, file: string) => Promise<Row>> = {
  async "reset storm"(dir, file) {
    const r = await receiver(dir);
    const resets = await resetStorm(r.port, { count: 5000, ms: 5000 });
    const alive = r.exited() === undefined;
    const s = await send(r.port, file);
    await r.stop();
    return [
      `reset storm (${resets} resets), then a sender`,
      alive && s.code === 0
        ? `served it in ${s.seconds.toFixed(2)} s`
        : `receiver ${
          alive ? "alive" : "exited"
        }; sender exit ${s.code}: ${s.stderr}`,
    ];
  },
  async "strangers"(dir, file) {
    const r = await receiver(dir, "--max-connections", "4");
    const held: Deno.TcpConn[] = [];
    for (let i = 0; i < 200; i++) held.push(await helloOnly(r.port));
    const s = await send(r.port, file);
    const rss = await peakRss(r.pid);
    for (const c of held) {
      try {
        c.close();
      } catch { /* dropped */ }
    }
    await r.stop();
    return [
      "200 hello-only strangers (--max-connections 4), then a sender",
      `${
        s.code === 0
          ? `served it in ${s.seconds.toFixed(2)} s`
          : `sender exit ${s.code}: ${s.stderr}`
      }; receiver peak RSS ${
        rss === null ? "?" : `${(rss / 1e6).toFixed(0)} MB`
      }`,
    ];
  },
  async "hello flood"(dir, file) {
    const r = await receiver(dir);
    const before = await cpuSeconds(r.pid);
    const started = performance.now();
    let made = 0;
    // Hello-only strangers that hang up, 50 at a time, for 5 s at most.
    while (made < 3000 && performance.now() - started < 5000) {
      const batch = await Promise.all(
        Array.from({ length: 50 }, () => helloOnly(r.port).catch(() => null)),
      );
      for (const c of batch) {
        try {
          c?.close();
        } catch { /* dropped */ }
      }
      made += batch.length;
    }
    await new Promise((done) => setTimeout(done, 1000)); // let it settle
    const after = await cpuSeconds(r.pid);
    const s = await send(r.port, file);
    await r.stop();
    const per = before !== null && after !== null
      ? `${
        (((after - before) / made) * 1e6).toFixed(0)
      } µs of receiver CPU each`
      : "CPU not readable";
    return [
      `${made} hello-only strangers that hang up, then a sender`,
      `${per}; next sender exit ${s.code} in ${s.seconds.toFixed(2)} s`,
    ];
  },
  async "deep manifest"(dir, file) {
    const r = await receiver(dir, "--timeout", "5");
    const deep = Array(2045).fill("a").join("/");
    const entries: Entry[] = [];
    for (let i = 0; i < 300; i++) {
      entries.push({ path: `${deep}/${i}`, type: "file", size: 0 });
    }
    const started = performance.now();
    const peer = await connectAsSender(r.port);
    for (let i = 0; i < entries.length; i += 10) {
      await peer.send({
        type: "manifest",
        entries: entries.slice(i, i + 10),
        last: i + 10 >= entries.length,
      });
    }
    const verdict = await bounded(120_000, peer.next());
    const vetted = (performance.now() - started) / 1000;
    const s = await bounded(120_000, send(r.port, file));
    peer[Symbol.dispose]();
    await r.stop();
    return [
      "300 entries 2,046 levels deep, then a sender",
      `${
        verdict
          ? `${verdict.type} after ${vetted.toFixed(2)} s`
          : "no verdict in 120 s"
      }; ${
        s
          ? `next sender exit ${s.code} in ${s.seconds.toFixed(2)} s`
          : "next sender not served in 120 s"
      }`,
    ];
  },
  async "manifest memory"(dir, file) {
    const r = await receiver(dir);
    const peer = await connectAsSender(r.port);
    const segment = "x".repeat(250);
    const long = Array(16).fill(segment).join("/");
    let answer: Message | undefined;
    const reply = peer.next().then((m) => (answer = m), () => undefined);
    let sent = 0;
    const started = performance.now();
    // At most 400 MB of names, or 60 s.
    for (
      let i = 0;
      i < 6_500 && answer === undefined && performance.now() - started < 60_000;
      i++
    ) {
      const batch: Entry[] = [];
      for (let k = 0; k < 15; k++) {
        batch.push({ path: `${long}/${sent++}`, type: "file", size: 0 });
      }
      await peer.send({ type: "manifest", entries: batch, last: false }).catch(
        () => {},
      );
    }
    await bounded(20_000, reply);
    const rss = await peakRss(r.pid);
    const s = await send(r.port, file);
    peer[Symbol.dispose]();
    await r.stop();
    return [
      "4 KB names until refused (at most 97,500), then a sender",
      `${
        answer?.type === "error" ? `refused (${answer.code})` : "no refusal"
      } after ${sent} entries; receiver peak RSS ${
        rss === null ? "?" : `${(rss / 1e6).toFixed(0)} MB`
      }; next sender exit ${s.code}`,
    ];
  },
  async "700 files twice"(dir) {
    const src = join(dir, "..", "folder");
    await Deno.mkdir(src, { recursive: true });
    for (let i = 0; i < 700; i++) {
      await Deno.writeTextFile(join(src, `file-${i}.txt`), `file ${i}\n`);
    }
    const r = await receiver(dir);
    const first = await send(r.port, src);
    const second = await send(r.port, src);
    await r.stop();
    return [
      "a 700-file folder sent twice",
      `first exit ${first.code} in ${
        first.seconds.toFixed(2)
      } s; second exit ${second.code} in ${second.seconds.toFixed(2)} s${
        second.code ? `: ${second.stderr}` : ""
      }`,
    ];
  },
};

const rows: Row[] = [];
for (const [name, attack] of Object.entries(attacks)) {
  if (ONLY && !ONLY.includes(name)) continue;
  const tmp = await Deno.makeTempDir({ prefix: "pasa-hostile-" });
  try {
    const file = join(tmp, "one.bin");
    await Deno.writeFile(file, new Uint8Array(100_000).fill(7));
    const out = join(tmp, "out");
    rows.push(await attack(out, file));
  } catch (error) {
    rows.push([name, `failed: ${(error as Error).message}`]);
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}
const width = Math.max(...rows.map((r) => r[0].length));
const say = (text: string) =>
  Deno.stdout.writeSync(new TextEncoder().encode(text + "\n"));
say(`pasa at ${PASA}`);
for (const [attack, outcome] of rows) {
  say(`${attack.padEnd(width)}  ${outcome}`);
}

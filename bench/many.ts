/**
 * The many-small-files part of `deno task bench`: a generated folder (files
 * of 100 B to 8 KB in folders of 100, from a fixed seed) sent over loopback
 * by pasa, beside `tar c | nc` into `nc | tar x` in the same run (no hash,
 * no fsync: the floor). Prints median times, the ratio, files per second
 * and pasa's peak RSS on each side.
 *
 * @module
 */

import { join } from "node:path";
import { pasaFlags, ROOT } from "../scripts/pasa.ts";

/** Writes `count` files of 100 B to 8 KB into `root`, 100 per folder; returns their bytes. */
export async function generateTree(
  root: string,
  count: number,
  seed = 14,
): Promise<number> {
  // A small linear congruential generator: the same tree for the same seed.
  let state = seed >>> 0;
  const next = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0);
  const block = new Uint8Array(8192);
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const dir = join(
      root,
      `dir${String(Math.floor(i / 100)).padStart(3, "0")}`,
    );
    if (i % 100 === 0) await Deno.mkdir(dir, { recursive: true });
    const size = 100 + (next() % (8192 - 100 + 1));
    for (let k = 0; k < size; k += 4) {
      new DataView(block.buffer).setUint32(k, next());
    }
    await Deno.writeFile(
      join(dir, `file${String(i % 100).padStart(3, "0")}.bin`),
      block.subarray(0, size),
    );
    bytes += size;
  }
  return bytes;
}

/**
 * This runtime's floor for receiving the folder `src` into `out`
 * (bench/many_floor.ts, run with pasa's own permissions): seconds of
 * creating, writing and renaming each file, and with `durable` syncing
 * them as pasa's group commit does.
 */
export async function receiveFloor(
  src: string,
  out: string,
  durable: boolean,
): Promise<number> {
  await Deno.remove(out, { recursive: true }).catch(() => {});
  const run = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      ...pasaFlags(),
      join(ROOT, "bench", "many_floor.ts"),
      src,
      out,
      ...(durable ? ["--durable"] : []),
    ],
    stderr: "piped",
  }).output();
  if (!run.success) {
    throw new Error(
      `the floor failed: ${new TextDecoder().decode(run.stderr)}`,
    );
  }
  await Deno.remove(out, { recursive: true }).catch(() => {});
  return JSON.parse(new TextDecoder().decode(run.stdout)).seconds;
}

/** `tar c | nc` into `nc | tar x` over loopback; seconds. */
export async function tarNc(src: string, out: string, port: number) {
  await Deno.remove(out, { recursive: true }).catch(() => {});
  await Deno.mkdir(out, { recursive: true });
  const parent = join(src, "..");
  const name = src.slice(parent.length + 1);
  const recv = new Deno.Command("sh", {
    args: ["-c", `nc -l -p ${port} | tar x -C '${out}'`],
  }).spawn();
  const started = performance.now();
  // nc -l has no "ready" signal: retry the sender until the listener is up.
  for (let attempt = 0; attempt < 200; attempt++) {
    const send = await new Deno.Command("sh", {
      args: ["-c", `tar c -C '${parent}' '${name}' | nc -N 127.0.0.1 ${port}`],
      stderr: "null",
    }).output();
    if (send.code === 0) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  await recv.status;
  return (performance.now() - started) / 1000;
}

/** Whether `rsync` is installed here. */
export async function hasRsync(): Promise<boolean> {
  try {
    const out = await new Deno.Command("rsync", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return out.success;
  } catch {
    return false;
  }
}

/**
 * rsync over loopback to an rsync daemon (no ssh here), the folder `src`
 * into `out`: seconds of `rsync -a` with `flags` (e.g. `--fsync`), once
 * into an empty `out` unless `again`, when everything is already there.
 */
export async function rsyncDaemon(
  src: string,
  out: string,
  port: number,
  flags: string[],
  again = false,
): Promise<number> {
  if (!again) {
    await Deno.remove(out, { recursive: true }).catch(() => {});
  }
  await Deno.mkdir(out, { recursive: true });
  const conf = await Deno.makeTempFile({ suffix: ".conf" });
  await Deno.writeTextFile(
    conf,
    `port = ${port}\naddress = 127.0.0.1\nuse chroot = no\n` +
      // As whoever runs the benchmark (a root daemon would write as nobody).
      `uid = ${Deno.uid() ?? 0}\ngid = ${Deno.gid() ?? 0}\n` +
      `[out]\npath = ${out}\nread only = no\n`,
  );
  const daemon = new Deno.Command("rsync", {
    args: ["--daemon", "--no-detach", `--config=${conf}`],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const url = `rsync://127.0.0.1:${port}/out/`;
    // The daemon has no "ready" signal: retry until it answers (bounded).
    for (let attempt = 0; attempt < 200; attempt++) {
      const probe = await new Deno.Command("rsync", {
        args: [url],
        stdout: "null",
        stderr: "null",
      }).output();
      if (probe.success) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const started = performance.now();
    const run = await new Deno.Command("rsync", {
      args: ["-a", ...flags, src, url],
      stdout: "null",
      stderr: "piped",
    }).output();
    const seconds = (performance.now() - started) / 1000;
    if (!run.success) {
      throw new Error(`rsync failed: ${new TextDecoder().decode(run.stderr)}`);
    }
    return seconds;
  } finally {
    daemon.kill("SIGTERM");
    await daemon.status;
    await Deno.remove(conf).catch(() => {});
  }
}

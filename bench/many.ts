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

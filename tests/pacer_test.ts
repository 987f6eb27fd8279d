import assert from "node:assert/strict";
import process from "node:process";
import { RateController } from "../lib/udp.ts";
import { Pacer } from "../lib/udp_send.ts";

/** Takes `count` pieces of `bytes` from a pacer at a fixed `bitsPerSecond`. */
async function pace(
  bitsPerSecond: number,
  count: number,
  bytes: number,
  shared = false,
) {
  const pacer = new Pacer(
    new RateController({ fixed: bitsPerSecond, initial: bitsPerSecond }),
    { shared },
  );
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let k = 0; k < count; k++) {
    const wait = pacer.take(bytes);
    if (wait) await wait;
  }
  const cpu = process.cpuUsage(cpu0);
  return {
    ms: performance.now() - t0,
    cpuMs: (cpu.user + cpu.system) / 1000,
  };
}

Deno.test("the pacer never lets bytes out faster than its rate", async () => {
  // 8 Mbit/s is 1,000 bytes a millisecond; the budget starts empty.
  const { ms } = await pace(8e6, 40, 5_000);
  assert.ok(ms >= 195, `200,000 bytes at 8 Mbit/s went in ${ms} ms`);
});

Deno.test("the pacer waits without spinning, leaving the CPU to the receiver on a shared machine", async () => {
  // Waits of about a millisecond each: the short waits that a pacer at
  // line rate makes thousands of times a second.
  const { ms, cpuMs } = await pace(8e6, 200, 1_000);
  assert.ok(ms >= 195);
  assert.ok(cpuMs < ms / 2, `${cpuMs} ms of CPU in ${ms} ms of pacing`);
});

Deno.test("a pacer on a thread that serves others never stops it: timers keep firing while it waits", async () => {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  const { ms } = await pace(8e6, 200, 1_000, true);
  clearInterval(timer);
  assert.ok(ms >= 195);
  // A stopped thread would run no timer while it waits.
  assert.ok(ticks >= 20, `${ticks} timer ticks in ${ms} ms`);
});

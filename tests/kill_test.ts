import assert from "node:assert/strict";
import { join } from "node:path";
import {
  events,
  runPasa,
  sha256File,
  spawnPasa,
  startListening,
  tempDir,
} from "./helpers.ts";

const SIZE = 200 * 1024 * 1024;

async function bigFile(dir: string): Promise<string> {
  const path = join(dir, "big.bin");
  using file = await Deno.open(path, { write: true, create: true });
  const block = new Uint8Array(4 * 1024 * 1024);
  for (let i = 0; i < SIZE / block.length; i++) {
    block.fill(i & 0xff);
    new DataView(block.buffer).setUint32(0, i); // no two blocks alike
    await file.write(block);
  }
  return path;
}

/** Waits (bounded) until `path` holds at least `bytes`; false if it never does. */
async function waitForSize(
  path: string,
  bytes: number,
  ms = 30_000,
): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    const size = await Deno.stat(path).then((i) => i.size, () => 0);
    if (size >= bytes) return true;
    await new Promise((r) => setTimeout(r, 2));
  }
  return false;
}

for (const who of ["sender", "receiver"] as const) {
  for (const point of [0.2, 0.6]) {
    Deno.test(`kill -9 of the ${who} at ${point * 100}% of 200 MiB: nothing wrong under the final name, and the rerun resumes`, async () => {
      await using tmp = await tempDir();
      const file = await bigFile(tmp.path);
      const out = join(tmp.path, "out");
      const part = join(out, "big.bin.pasa.part");
      {
        await using receiver = await startListening(["receive", "--out", out]);
        const sender = spawnPasa([
          "send",
          file,
          "--to",
          `127.0.0.1:${receiver.port}`,
        ], { stdin: "null" });
        assert.ok(
          await waitForSize(part, SIZE * point),
          "the transfer reached the kill point",
        );
        if (who === "sender") sender.kill("SIGKILL");
        else receiver.kill("SIGKILL");
        await sender.output();
        const received = await receiver.result();
        if (who === "sender") {
          // The receiver says what it kept, and that is what is there.
          const kept = events(received.stdout).find((e) => e.event === "kept");
          assert.equal(kept?.bytes, (await Deno.stat(part)).size);
        }
      }
      const final = join(out, "big.bin");
      const survived = await Deno.stat(final).then(() => true, () => false);
      assert.ok(!survived, "no file under the final name after a kill");
      await using receiver = await startListening(["receive", "--out", out]);
      const rerun = await runPasa([
        "send",
        file,
        "--to",
        `127.0.0.1:${receiver.port}`,
        "--json",
      ]);
      assert.equal(rerun.code, 0, rerun.stderr);
      await receiver.result();
      const resumed = events(rerun.stdout).find((e) => e.event === "resumed");
      assert.ok(
        (resumed?.offset as number) >= SIZE * point * 0.9,
        `resumed at ${resumed?.offset}`,
      );
      assert.equal(await sha256File(final), await sha256File(file));
    });
  }
}

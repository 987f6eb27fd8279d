import assert from "node:assert/strict";
import { join } from "node:path";
import { FileInput } from "../lib/payload.ts";
import { tempDir } from "./helpers.ts";

Deno.test("reads at offsets that overlap in time each get their own bytes (a block read ahead while holes are read for a repair)", async () => {
  await using tmp = await tempDir();
  const path = join(tmp.path, "source.bin");
  const bytes = new Uint8Array(4 * 1024 * 1024).map((_, i) => (i * 31) >> 8);
  await Deno.writeFile(path, bytes);
  const input = new FileInput(await Deno.open(path));
  try {
    const positions = [3_000_000, 17, 1_048_576, 2_500_001, 0, 4_000_000];
    const buffers = positions.map(() => new Uint8Array(100_000));
    await Promise.all(positions.map((p, k) => input.readAt(p, buffers[k]!)));
    for (const [k, p] of positions.entries()) {
      const want = bytes.subarray(p, p + 100_000);
      assert.deepEqual(buffers[k]!.subarray(0, want.length), want, `at ${p}`);
    }
  } finally {
    input.close();
  }
});

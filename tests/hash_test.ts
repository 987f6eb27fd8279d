import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { scanSlots } from "../lib/hash.ts";
import { tempDir } from "./helpers.ts";

const sha = (...parts: Uint8Array[]) => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest("hex");
};

Deno.test("scanSlots() finds the prefix, then the runs of whole slots past its first hole", async () => {
  await using tmp = await tempDir();
  // A 1,050-byte file in slots of 100: slots 0-2 arrived, 3 did not, 4-6
  // did, 7 did not, 8-9 did, and the short last slot (50 bytes) did.
  const size = 1050;
  const data = new Uint8Array(size).map((_, i) => 1 + (i % 250));
  const part = new Uint8Array(size);
  for (const slot of [0, 1, 2, 4, 5, 6, 8, 9, 10]) {
    part.set(data.subarray(slot * 100, slot * 100 + 100), slot * 100);
  }
  const path = join(tmp.path, "x.pasa.part");
  await Deno.writeFile(path, part);
  const kept = await scanSlots(path, size, 100, 10);
  assert.ok(kept);
  assert.equal(kept.offset, 300);
  assert.equal(kept.sha256, sha(data.subarray(0, 300)));
  assert.deepEqual(kept.ranges, [[400, 300], [800, 250]]);
  assert.equal(
    kept.rangesSha256,
    sha(data.subarray(400, 700), data.subarray(800, 1050)),
  );
});

Deno.test("scanSlots() offers no more ranges than asked, and no slot a part cuts short", async () => {
  await using tmp = await tempDir();
  const path = join(tmp.path, "x.pasa.part");
  // Slots 1, 3 and 5 of 100 bytes arrived; the part ends 30 bytes into slot 6.
  const part = new Uint8Array(630);
  for (const slot of [1, 3, 5]) part.fill(7, slot * 100, slot * 100 + 100);
  part.fill(7, 600, 630);
  await Deno.writeFile(path, part);
  const kept = await scanSlots(path, 1000, 100, 2);
  assert.ok(kept);
  assert.equal(kept.offset, 0);
  assert.deepEqual(kept.ranges, [[100, 100], [300, 100]]);
});

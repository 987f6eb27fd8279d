import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  NO_DIGEST,
  noDigest,
  Pattern,
  PATTERN_SIZE,
  PatternSink,
} from "../lib/pattern.ts";
import { IntegrityError } from "../lib/errors.ts";

Deno.test("the pattern is ChaCha20's keystream for its seed (RFC 8439, zero key: the A.1 test vector)", () => {
  const p = new Pattern(new Uint8Array(32));
  assert.equal(
    Buffer.from(p.bytes.subarray(0, 16)).toString("hex"),
    "76b8e0ada0f13d90405d6ae55386bd28",
  );
  assert.equal(p.bytes.length, PATTERN_SIZE);
  assert.equal(Pattern.fromHex(p.hex).bytes.equals(p.bytes), true);
});

Deno.test("a payload repeats its pattern: the byte at p is pattern[p mod size], across the seam too", () => {
  const p = Pattern.random();
  const out = new Uint8Array(20);
  p.fill(PATTERN_SIZE - 10, out);
  assert.deepEqual(
    [...out],
    [...p.bytes.subarray(PATTERN_SIZE - 10), ...p.bytes.subarray(0, 10)],
  );
  assert.equal(p.mismatch(PATTERN_SIZE - 10, out), -1);
  out[15] = out[15]! ^ 1;
  assert.equal(p.mismatch(PATTERN_SIZE - 10, out), PATTERN_SIZE + 5);
});

Deno.test("a pattern sink takes the right bytes in order or at any position, and names the first wrong one", async () => {
  const p = Pattern.random();
  const sink = new PatternSink(p);
  const piece = new Uint8Array(1000);
  p.fill(0, piece);
  await sink.write(piece);
  p.fill(1000, piece);
  await sink.write(piece);
  sink.seekSync(5000);
  p.fill(5000, piece);
  assert.equal(sink.writeSync(piece), 1000);
  p.fill(6000, piece);
  piece[10] = piece[10]! ^ 0x80;
  await assert.rejects(
    () => sink.write(piece),
    (e) =>
      e instanceof IntegrityError &&
      /differed from its generated pattern at byte 6010/.test(e.message),
  );
  assert.equal(await sink.keep(), false, "nothing is ever kept");
});

Deno.test("a checked body has no digest: both ends agree on zeros", () => {
  assert.equal(noDigest().update(new Uint8Array(9)).digest("hex"), NO_DIGEST);
});

Deno.test("a measurement checked where it lands needs no room on the receiver's disk, but one over 64 GiB is refused either way", async () => {
  const { MEASUREMENT_MAX, Scratch } = await import("../lib/scratch.ts");
  const sized = (size: number) => [{
    path: "pasa-bench.bin",
    type: "file" as const,
    size,
  }];
  const scratch = new Scratch();
  try {
    assert.deepEqual(
      await scratch.vet(sized(MEASUREMENT_MAX), { storing: false }),
      new Map(),
    );
    for (const storing of [false, true]) {
      await assert.rejects(
        () => scratch.vet(sized(2 ** 50), { storing }),
        /Refusing a measurement of 1\.0 PiB: at most 64\.0 GiB/,
      );
    }
  } finally {
    await scratch.close();
  }
});

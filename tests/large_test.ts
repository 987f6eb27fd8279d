import assert from "node:assert/strict";
import { join } from "node:path";
import {
  events,
  sendTo,
  sha256File,
  startListening,
  tempDir,
} from "./helpers.ts";

/** Writes `bytes` at `offset` of an open file. */
async function writeAt(
  file: Deno.FsFile,
  offset: number,
  bytes: Uint8Array,
): Promise<void> {
  await file.seek(offset, Deno.SeekMode.Start);
  for (let done = 0; done < bytes.length;) {
    done += await file.write(bytes.subarray(done));
  }
}

Deno.test({
  name:
    "a file over 4 GiB round-trips with offsets and sizes beyond 32 bits intact",
  ignore: Deno.env.get("PASA_SKIP_LARGE") === "1",
  fn: async () => {
    await using tmp = await tempDir();
    const size = 2 ** 32 + 1024 * 1024 + 3;
    const src = join(tmp.path, "over-4gib.bin");
    {
      // Sparse, with marks at the start, across the 4 GiB boundary and at the end.
      using f = await Deno.open(src, { write: true, create: true });
      await f.truncate(size);
      const mark = (seed: number) =>
        new Uint8Array(70_000).map((_, i) => (i * seed + 1) & 0xff);
      await writeAt(f, 0, mark(3));
      await writeAt(f, 2 ** 32 - 35_000, mark(5));
      await writeAt(f, size - 70_000, mark(7));
    }
    const out = join(tmp.path, "out");
    await using receiver = await startListening(["receive", "--out", out]);
    const sent = await sendTo(receiver.port, src, "--json");
    assert.equal(sent.code, 0, sent.stderr);
    const received = await receiver.result();
    assert.equal(received.code, 0, received.stderr);
    const summary = events(received.stdout).find((e) => e.event === "summary")!;
    assert.equal(summary.bytes, size);
    const file = (summary.files as { sha256: string }[])[0]!;
    assert.equal((await Deno.stat(join(out, "over-4gib.bin"))).size, size);
    assert.equal(await sha256File(join(out, "over-4gib.bin")), file.sha256);
    assert.equal(file.sha256, await sha256File(src));
  },
});

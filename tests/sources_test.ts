import assert from "node:assert/strict";
import { join } from "node:path";
import { collectSources, SourceWalk } from "../lib/sources.ts";
import { UsageError } from "../lib/errors.ts";
import { listTree, sendTo, startListening, tempDir } from "./helpers.ts";

async function folder(root: string, files: number): Promise<string> {
  const dir = join(root, "set");
  await Deno.mkdir(join(dir, "sub"), { recursive: true });
  for (let i = 0; i < files; i++) {
    await Deno.writeTextFile(
      join(dir, i % 2 ? "sub" : ".", `f${String(i).padStart(3, "0")}`),
      `${i}\n`,
    );
  }
  return dir;
}

Deno.test("a planned walk refuses bad paths before listing anything, and lists in manifest order when iterated", async () => {
  await using tmp = await tempDir();
  const dir = await folder(tmp.path, 6);
  await assert.rejects(
    () => SourceWalk.plan([join(tmp.path, "nope")], undefined, () => {}),
    UsageError,
  );
  await assert.rejects(
    () => SourceWalk.plan([dir, join(dir, "sub")], "x", () => {}),
    /--name renames a single file/,
  );
  await Deno.mkdir(join(tmp.path, "other", "set"), { recursive: true });
  await assert.rejects(
    () =>
      SourceWalk.plan(
        [dir, join(tmp.path, "other", "set")],
        undefined,
        () => {},
      ),
    /Two paths would arrive as set/,
  );
  const walk = await SourceWalk.plan([dir], undefined, () => {});
  assert.equal(walk.sources.length, 0, "nothing listed yet");
  assert.equal(walk.singleFile, false);
  const paths: string[] = [];
  for await (const s of walk) paths.push(s.entry.path);
  assert.deepEqual(paths, [
    "set",
    "set/f000",
    "set/f002",
    "set/f004",
    "set/sub",
    "set/sub/f001",
    "set/sub/f003",
    "set/sub/f005",
  ]);
  assert.ok(walk.complete);
  // A second pass (a retry) gives the same sources without listing again.
  const again: string[] = [];
  for await (const s of walk) again.push(s.entry.path);
  assert.deepEqual(again, paths);
  assert.deepEqual(
    (await collectSources([dir])).sources.map((s) => s.entry.path),
    paths,
  );
});

Deno.test("a walk stopped half-way starts over when iterated again, without doubles", async () => {
  await using tmp = await tempDir();
  const dir = await folder(tmp.path, 10);
  const walk = await SourceWalk.plan([dir], undefined, () => {});
  for await (const s of walk) if (s.entry.path === "set/f004") break;
  assert.equal(walk.complete, false);
  const all = await walk.all();
  assert.equal(all.length, 12);
  assert.equal(new Set(all.map((s) => s.entry.path)).size, 12);
});

Deno.test("a folder of exactly one manifest frame's entries arrives whole (the last frame is then empty)", async () => {
  await using tmp = await tempDir();
  // 1 folder + 1 subfolder + 198 files = 200 entries: one full frame.
  const dir = await folder(tmp.path, 198);
  await using receiver = await startListening([
    "receive",
    "--out",
    join(tmp.path, "out"),
  ]);
  const sent = await sendTo(receiver.port, dir);
  assert.equal(sent.code, 0, sent.stderr);
  assert.equal((await receiver.result()).code, 0);
  assert.equal((await listTree(join(tmp.path, "out"))).length, 200);
});

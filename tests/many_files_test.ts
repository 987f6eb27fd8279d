/**
 * Folders of many small files: committed in groups (lib/group_commit.ts),
 * every file verified and durable under its final name before the sender
 * hears of it, and a kill mid-folder leaves no torn file under a final name.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  CommitGroup,
  GROUP_BYTES,
  GROUP_FILE_MAX,
  GROUP_FILES,
  HELD_FILES_MAX,
} from "../lib/group_commit.ts";
import type { PartFile } from "../lib/fsio.ts";
import {
  events,
  listTree,
  sendTo,
  sha256File,
  startListening,
  tempDir,
} from "./helpers.ts";

/** `count` small files in folders of 100, sizes 1..8000 from a fixed rule, and one large file among them. */
async function tree(root: string, count: number): Promise<string[]> {
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const dir = join(root, `d${Math.floor(i / 100)}`);
    if (i % 100 === 0) await Deno.mkdir(dir, { recursive: true });
    const size = 1 + ((i * 7919) % 8000);
    const name = join(dir, `f${i}.bin`);
    await Deno.writeFile(
      name,
      new Uint8Array(size).map((_, k) => (k * 31 + i) & 0xff),
    );
    names.push(name);
  }
  const big = join(root, "d0", "large.bin");
  await Deno.writeFile(big, new Uint8Array(3 * GROUP_FILE_MAX).fill(9));
  names.push(big);
  return names;
}

Deno.test("a group holds small files until it is full, by count or by bytes; a large file never waits", () => {
  const group = new CommitGroup<number>();
  const part = {} as PartFile;
  assert.equal(group.takes(GROUP_FILE_MAX), true);
  assert.equal(group.takes(GROUP_FILE_MAX + 1), false);
  assert.equal(group.takes(null), false, "a size not known in advance");
  for (let i = 1; i < GROUP_FILES; i++) {
    assert.equal(group.add(part, {}, 10, i), false);
  }
  assert.equal(group.add(part, {}, 10, GROUP_FILES), true, "full by count");
  const byBytes = new CommitGroup<number>();
  assert.equal(byBytes.add(part, {}, GROUP_BYTES - 1, 1), false);
  assert.equal(byBytes.add(part, {}, 1, 2), true, "full by bytes");
  // Many transfers at once share a bound on the files held open.
  const groups = Array.from({ length: 4 }, () => new CommitGroup<number>());
  let full = 0;
  for (let i = 0; i < HELD_FILES_MAX; i++) {
    if (groups[i % 4]!.add(part, {}, 1, i)) full++;
  }
  assert.ok(full >= 1, "the process-wide bound makes a group commit");
});

Deno.test("a folder of 1,200 small files and a large one arrives whole, every file acknowledged once and in order", async () => {
  await using tmp = await tempDir();
  const src = join(tmp.path, "src");
  const names = await tree(src, 1200);
  const out = join(tmp.path, "out");
  await using receiver = await startListening(["receive", "--out", out]);
  const sent = await sendTo(receiver.port, src, "--json", "--every-file");
  assert.equal(sent.code, 0, sent.stderr);
  const acked = events(sent.stdout).filter((e) => e.event === "file").map((
    e,
  ) => e.name as string);
  assert.equal(acked.length, names.length);
  assert.equal(new Set(acked).size, acked.length, "each file once");
  const sorted = [...acked].sort();
  assert.deepEqual(acked, sorted, "in the order of the manifest");
  await receiver.result();
  for (const name of [names[0]!, names[599]!, names[1199]!, names[1200]!]) {
    const copy = join(out, "src", name.slice(src.length + 1));
    assert.equal(await sha256File(copy), await sha256File(name), copy);
  }
  const listed = await listTree(out);
  assert.equal(listed.filter((p) => p.endsWith(".pasa.part")).length, 0);
  assert.equal(listed.filter((p) => p.endsWith(".bin")).length, names.length);
});

Deno.test("kill -9 of the receiver mid-folder leaves every file under its final name whole, and the rerun completes", async () => {
  await using tmp = await tempDir();
  const src = join(tmp.path, "src");
  const names = await tree(src, 3000);
  const out = join(tmp.path, "out");
  {
    await using receiver = await startListening(["receive", "--out", out]);
    const sending = sendTo(receiver.port, src);
    // Bounded wait for some files to land, then kill the receiver.
    for (let i = 0; i < 3000; i++) {
      const landed = await listTree(out).catch(() => []);
      if (landed.filter((p) => p.endsWith(".bin")).length >= 300) break;
      await new Promise((r) => setTimeout(r, 2));
    }
    receiver.kill("SIGKILL");
    await receiver.result().catch(() => {});
    assert.notEqual((await sending).code, 0, "the sender saw the cut");
  }
  const landed = (await listTree(out)).filter((p) => p.endsWith(".bin"));
  assert.ok(landed.length > 0 && landed.length < names.length + 1);
  for (const rel of landed) {
    const name = join(src, rel.slice("src/".length));
    assert.equal(
      await sha256File(join(out, rel)),
      await sha256File(name),
      `${rel} under its final name is whole`,
    );
  }
  await using receiver = await startListening(["receive", "--out", out]);
  const rerun = await sendTo(receiver.port, src, "--json", "--every-file");
  assert.equal(rerun.code, 0, rerun.stderr);
  await receiver.result();
  // Files delivered before the kill are taken unchanged (same size and
  // time), the rest sent and acknowledged in manifest order.
  const said = events(rerun.stdout);
  const unchanged = said.find((e) => e.event === "unchanged");
  assert.ok(unchanged, "files delivered before the kill are taken as they are");
  const acked = said.filter((e) => e.event === "file").map((e) =>
    e.name as string
  );
  assert.equal(acked.length + (unchanged.files as number), names.length);
  assert.deepEqual(acked, [...acked].sort(), "in the order of the manifest");
  const summary = said.find((e) => e.event === "summary")!;
  assert.equal((summary.files as unknown[]).length, names.length);
  const all = (await listTree(out)).filter((p) => p.endsWith(".bin"));
  assert.equal(all.length, names.length);
  assert.equal(
    (await listTree(out)).filter((p) => p.endsWith(".pasa.part")).length,
    0,
  );
});

Deno.test("a name that cannot travel inside a folder is skipped with a warning, like a link, and the rest goes", async () => {
  await using tmp = await tempDir();
  const src = join(tmp.path, "src");
  await Deno.mkdir(src);
  await Deno.writeTextFile(join(src, "good.txt"), "good");
  await Deno.writeTextFile(join(src, "bad\nname.txt"), "bad");
  await Deno.writeTextFile(join(src, "also.pasa.part"), "reserved");
  const out = join(tmp.path, "out");
  await using receiver = await startListening(["receive", "--out", out]);
  const sent = await sendTo(receiver.port, src);
  assert.equal(sent.code, 0, sent.stderr);
  assert.match(
    sent.stderr,
    /Skipped .*bad\\x0aname\.txt"?: its name cannot be sent \(it contains a control character\)/,
  );
  assert.match(
    sent.stderr,
    /Skipped .*also\.pasa\.part: its name cannot be sent/,
  );
  await receiver.result();
  assert.deepEqual(await listTree(out), ["src/", "src/good.txt"]);
});

Deno.test("--json says where a long transfer is, at most once a second, and never more than there is", async () => {
  await using tmp = await tempDir();
  const src = join(tmp.path, "src");
  await tree(src, 40);
  await using receiver = await startListening([
    "receive",
    "--udp",
    "--out",
    join(tmp.path, "out"),
  ]);
  // UDP at a fixed 16 Mbit/s: the folder (about 3.3 MB) takes about two seconds.
  const sent = await sendTo(
    receiver.port,
    src,
    "--udp",
    "--rate",
    "16M",
    "--json",
  );
  assert.equal(sent.code, 0, sent.stderr);
  await receiver.result();
  const said = events(sent.stdout);
  const progress = said.filter((e) => e.event === "progress");
  const summary = said.find((e) => e.event === "summary")!;
  assert.ok(progress.length >= 1, "a progress event during the transfer");
  assert.ok(
    progress.length <= (summary.seconds as number) + 1,
    `${progress.length} events in ${summary.seconds} s`,
  );
  for (const p of progress) {
    assert.equal(p.files, 41);
    assert.ok((p.bytes as number) <= (p.totalBytes as number));
    assert.ok(
      (p.bytesPerSecond as number) <= 16e6 / 8 * 1.5,
      JSON.stringify(p),
    );
  }
});

Deno.test("files already there, among others to send, are still acknowledged in manifest order", async () => {
  await using tmp = await tempDir();
  const src = join(tmp.path, "src");
  const names = await tree(src, 300);
  const out = join(tmp.path, "out");
  // Every tenth file is already on the receiver: it is confirmed by
  // SHA-256 (its time differs from the sender's), not sent.
  for (const [i, name] of names.entries()) {
    if (i % 10 !== 5) continue;
    const copy = join(out, "src", name.slice(src.length + 1));
    await Deno.mkdir(join(copy, ".."), { recursive: true });
    await Deno.copyFile(name, copy);
    await Deno.utime(copy, 1_000_000, 1_000_000);
  }
  await using receiver = await startListening(["receive", "--out", out]);
  const sent = await sendTo(receiver.port, src, "--json", "--every-file");
  assert.equal(sent.code, 0, sent.stderr);
  await receiver.result();
  const said = events(sent.stdout);
  assert.equal(said.filter((e) => e.event === "skipped").length, 30);
  const acked = said.filter((e) => e.event === "file").map((e) =>
    e.name as string
  );
  assert.equal(acked.length, names.length);
  assert.deepEqual(acked, [...acked].sort(), "in the order of the manifest");
});

Deno.test("a folder of many files lists the first 100 one by one, then says there are more; --every-file lists all", async () => {
  await using tmp = await tempDir();
  const src = join(tmp.path, "src");
  const names = await tree(src, 150); // and one large file
  for (const every of [false, true]) {
    const out = join(tmp.path, every ? "all" : "some");
    await using receiver = await startListening(["receive", "--out", out]);
    const sent = await sendTo(
      receiver.port,
      src,
      "--json",
      ...(every ? ["--every-file"] : []),
    );
    assert.equal(sent.code, 0, sent.stderr);
    await receiver.result();
    const said = events(sent.stdout);
    const listed = said.filter((e) => e.event === "file").length;
    const more = said.filter((e) => e.event === "more-files");
    assert.equal(listed, every ? names.length : 100);
    assert.deepEqual(more.map((e) => e.listed), every ? [] : [100]);
    const summary = said.find((e) => e.event === "summary");
    assert.equal(
      (summary?.files as unknown[]).length,
      names.length,
      "all in the summary",
    );
  }
});

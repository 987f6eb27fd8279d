/**
 * Doing it twice: the same folder sent again to the same place, over TCP,
 * UDP and to a group, with and without --check, empty files included.
 * Each rerun works first time, takes what is already there as it is, and
 * sends only what is missing.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  events,
  listTree,
  runPasa,
  sendTo,
  sha256File,
  startListening,
  tempDir,
  within,
} from "./helpers.ts";

/** `src/a.txt`, `src/d/__init__.py` (empty), `src/d/.gitkeep` (empty) and a 700 KB file. */
async function folderWithEmptyFiles(root: string): Promise<string> {
  const src = join(root, "src");
  await Deno.mkdir(join(src, "d"), { recursive: true });
  await Deno.writeTextFile(join(src, "a.txt"), "hi\n");
  await Deno.writeFile(join(src, "d", "__init__.py"), new Uint8Array());
  await Deno.writeFile(join(src, "d", ".gitkeep"), new Uint8Array());
  await Deno.writeFile(
    join(src, "big.bin"),
    new Uint8Array(700_000).map((_, i) => (i * 131 + (i >> 10)) & 0xff),
  );
  return src;
}

/** Sends `src` to a fresh receiver into `out`; returns both sides' output. */
async function sendOnce(
  src: string,
  out: string,
  receiverFlags: string[],
  senderFlags: string[],
) {
  await using receiver = await startListening([
    "receive",
    "--out",
    out,
    ...receiverFlags,
  ]);
  const sent = await sendTo(receiver.port, src, "--json", ...senderFlags);
  const received = await within(30_000, "the receiver", receiver.result());
  return { sent, received };
}

async function sameTree(src: string, out: string): Promise<void> {
  assert.deepEqual(await listTree(join(out, "src")), await listTree(src));
  for (const name of ["a.txt", "big.bin", "d/__init__.py", "d/.gitkeep"]) {
    assert.equal(
      await sha256File(join(out, "src", name)),
      await sha256File(join(src, name)),
      name,
    );
  }
}

for (
  const [how, receiverFlags, senderFlags] of [
    ["over TCP", [], []],
    ["over TCP with --check", [], ["--check"]],
    ["over UDP", ["--udp"], ["--udp"]],
    ["over UDP with --check", ["--udp"], ["--udp", "--check"]],
  ] as const
) {
  Deno.test(`a folder holding empty files, sent again to the same --out ${how}, is taken as it is: nothing is sent`, async () => {
    await using tmp = await tempDir();
    const src = await folderWithEmptyFiles(tmp.path);
    const out = join(tmp.path, "out");
    const first = await sendOnce(src, out, [...receiverFlags], [
      ...senderFlags,
    ]);
    assert.equal(first.sent.code, 0, first.sent.stderr);
    const again = await sendOnce(src, out, [...receiverFlags], [
      ...senderFlags,
    ]);
    assert.equal(again.sent.code, 0, again.sent.stderr);
    assert.equal(again.received.code, 0, again.received.stderr);
    await sameTree(src, out);
    const summary = events(again.sent.stdout).find((e) =>
      e.event === "summary"
    )!;
    assert.equal(summary.fileCount, 4);
    assert.equal(summary.sentBytes, 0, "nothing sent the second time");
    assert.equal(summary.resumedBytes, 700_003);
    assert.equal(summary.verified, true);
  });
}

Deno.test("a UDP rerun takes the files the receiver has whole and sends only the one that changed", async () => {
  await using tmp = await tempDir();
  const src = await folderWithEmptyFiles(tmp.path);
  const out = join(tmp.path, "out");
  const first = await sendOnce(src, out, ["--udp"], ["--udp"]);
  assert.equal(first.sent.code, 0, first.sent.stderr);
  // The receiver lost big.bin; a.txt is the same but was touched there.
  await Deno.remove(join(out, "src", "big.bin"));
  await Deno.utime(join(out, "src", "a.txt"), 1_000_000, 1_000_000);
  const again = await sendOnce(src, out, ["--udp"], ["--udp"]);
  assert.equal(again.sent.code, 0, again.sent.stderr);
  await sameTree(src, out);
  const said = events(again.sent.stdout);
  // a.txt by its SHA-256, the empty ones by size and time; big.bin sent.
  assert.deepEqual(
    said.filter((e) => e.event === "skipped").map((e) => e.name),
    ["src/a.txt"],
  );
  assert.deepEqual(
    said.filter((e) => e.event === "unchanged").map((e) => e.files),
    [2],
  );
  const summary = said.find((e) => e.event === "summary")!;
  assert.equal(summary.sentBytes, 700_000);
});

Deno.test("files already there that differ from the sender's are refused before any body, a few named and the rest counted", async () => {
  await using tmp = await tempDir();
  const src = join(tmp.path, "many");
  await Deno.mkdir(src);
  for (let i = 0; i < 40; i++) {
    await Deno.writeTextFile(join(src, `f${String(i).padStart(2, "0")}`), "a");
  }
  const out = join(tmp.path, "out");
  assert.equal((await sendOnce(src, out, ["--udp"], ["--udp"])).sent.code, 0);
  for (let i = 0; i < 40; i++) {
    await Deno.writeTextFile(join(src, `f${String(i).padStart(2, "0")}`), "b");
  }
  for (const flags of [[], ["--udp"]]) {
    const again = await sendOnce(src, out, [...flags], [...flags]);
    assert.equal(again.sent.code, 4, again.sent.stderr);
    assert.match(
      again.sent.stderr,
      /Refusing to overwrite: many\/f00, many\/f01, many\/f02, many\/f03, many\/f04 and 35 more exist and differ from the sender's files \(pasa receive --force replaces them\)/,
    );
    assert.equal(await Deno.readTextFile(join(out, "many", "f00")), "a");
  }
});

for (const check of [[], ["--check"]]) {
  Deno.test(`a group re-sends only what a receiver lacks${check.length ? ", with --check" : ""}: one has everything, one has part, one has nothing; each ends with the folder`, async () => {
    await using tmp = await tempDir();
    const src = await folderWithEmptyFiles(tmp.path);
    const outs = ["full", "part", "none"].map((n) => join(tmp.path, n));
    assert.equal(
      (await sendOnce(src, outs[0]!, [], [])).sent.code,
      0,
      "the first receiver already has the folder",
    );
    await Deno.mkdir(join(outs[1]!, "src"), { recursive: true });
    await Deno.copyFile(join(src, "big.bin"), join(outs[1]!, "src", "big.bin"));
    await using sender = await startListening([
      "send",
      src,
      "--listen",
      "--receivers",
      "3",
      "--no-multicast",
      ...check,
    ]);
    const received = await within(
      60_000,
      "three receivers",
      Promise.all(outs.map((out) =>
        runPasa([
          "receive",
          "--from",
          `127.0.0.1:${sender.port}`,
          "--out",
          out,
          "--json",
        ])
      )),
    );
    const sent = await within(30_000, "the sender", sender.result());
    assert.equal(sent.code, 0, sent.stderr);
    for (const r of received) assert.equal(r.code, 0, r.stderr);
    for (const out of outs) await sameTree(src, out);
    const each = events(sent.stdout).filter((e) => e.event === "receiver");
    assert.deepEqual(
      each.map((e) => e.sentBytes).sort((a, b) => Number(a) - Number(b)),
      [0, 3, 700_003],
      "nothing to the full one, a.txt to the partial one, everything to the empty one",
    );
    const end = events(sent.stdout).find((e) => e.event === "group-summary")!;
    assert.equal(end.verified, 3);
    assert.equal(end.delivered, 700_006);
  });
}

Deno.test("a UDP .part that holds every slot of its file is resumed short of its last slot and delivered under its name", async () => {
  await using tmp = await tempDir();
  const src = join(tmp.path, "src");
  await Deno.mkdir(src);
  const file = join(src, "whole.bin");
  await Deno.writeFile(
    file,
    new Uint8Array(300_000).map((_, i) => (i * 17 + 1) & 0xff),
  );
  const out = join(tmp.path, "out");
  await Deno.mkdir(out);
  // Every byte there, still under its temporary name (a cut before the rename).
  await Deno.copyFile(file, join(out, "whole.bin.pasa.part"));
  await using receiver = await startListening([
    "receive",
    "--udp",
    "--out",
    out,
  ]);
  const sent = await sendTo(receiver.port, file, "--udp", "--json");
  assert.equal(sent.code, 0, sent.stderr);
  await within(30_000, "the receiver", receiver.result());
  assert.deepEqual(await listTree(out), ["whole.bin"]);
  assert.equal(
    await sha256File(join(out, "whole.bin")),
    await sha256File(file),
  );
  const summary = events(sent.stdout).find((e) => e.event === "summary")!;
  assert.ok(
    (summary.sentBytes as number) > 0 &&
      (summary.sentBytes as number) <= 1472,
    `only the last slot is sent again: ${summary.sentBytes}`,
  );
});

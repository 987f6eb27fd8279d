import assert from "node:assert/strict";
import { join } from "node:path";
import { chunkFrame, connectAsSender, offer } from "./peer.ts";
import {
  events,
  listTree,
  patterned,
  sendTo,
  sha256File,
  slowUdpSendUnderWay,
  startListening,
  tempDir,
  within,
} from "./helpers.ts";

/** Mounts a tmpfs of `size` at a new directory, if this machine lets us (root on Linux). */
async function smallDisk(
  size: string,
): Promise<{ path: string; [Symbol.asyncDispose](): Promise<void> } | null> {
  if (Deno.build.os !== "linux") return null;
  const path = await Deno.makeTempDir({ prefix: "pasa-disk-" });
  const mounted = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", path],
  })
    .output().then((o) => o.success, () => false);
  if (!mounted) {
    await Deno.remove(path);
    return null;
  }
  return {
    path,
    async [Symbol.asyncDispose]() {
      await new Deno.Command("umount", { args: [path] }).output().catch(
        () => {},
      );
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

const probe = await smallDisk("1m");
await probe?.[Symbol.asyncDispose]();

Deno.test({
  name:
    `a full disk stops that transfer with a clear error, keeps its .part, and the receiver keeps serving${
      probe ? "" : " (skipped: needs root to mount a small tmpfs)"
    }`,
  ignore: probe === null,
  fn: async () => {
    await using tmp = await tempDir();
    await using disk = (await smallDisk("3m"))!;
    const size = 2 * 1024 * 1024;
    const content = new Uint8Array(size).map((_, k) => (k * 7 + 1) & 0xff);
    const file = join(tmp.path, "a.bin");
    await Deno.writeFile(file, content);
    await using receiver = await startListening([
      "receive",
      "--keep",
      "--out",
      disk.path,
    ]);
    {
      // A sender whose file fits the free space checked up front...
      using peer = await connectAsSender(receiver.port);
      const answer = await offer(peer, [{ path: "a.bin", type: "file", size }]);
      assert.equal(answer.type, "accept");
      // ...and then the disk fills up before its bytes arrive.
      await Deno.writeFile(
        join(disk.path, "filler"),
        new Uint8Array(2 * 1024 * 1024),
      );
      for (let at = 0; at < size; at += 256 * 1024) {
        await peer.write(chunkFrame(content.subarray(at, at + 256 * 1024)))
          .catch(() => {});
      }
      const reply = await peer.next().catch(() => undefined);
      assert.equal(reply?.type, "error");
      assert.equal(reply?.type === "error" && reply.code, "disk");
      assert.match(
        reply?.type === "error" ? reply.message : "",
        /Cannot write a\.bin: .*(space|quota)/i,
      );
    }
    const tree = await listTree(disk.path);
    assert.ok(tree.includes("a.bin.pasa.part"), `the .part is kept: ${tree}`);
    assert.ok(!tree.includes("a.bin"));
    // Free space: the same receiver still serves, and the file resumes.
    await Deno.remove(join(disk.path, "filler"));
    const again = await sendTo(receiver.port, file, "--json");
    assert.equal(again.code, 0, again.stderr);
    assert.ok(
      events(again.stdout).some((e) => e.event === "resumed"),
      "resumed from the kept .part",
    );
    assert.equal(
      await sha256File(join(disk.path, "a.bin")),
      await sha256File(file),
    );
    receiver.kill();
    await receiver.result();
  },
});

/** Writes a file into `dir` until the disk is full (at most 64 MiB). */
async function fillUp(dir: string): Promise<string> {
  const path = join(dir, "filler");
  using file = await Deno.open(path, { write: true, create: true });
  const block = new Uint8Array(256 * 1024).fill(1);
  for (let i = 0; i < 256; i++) {
    try {
      await file.write(block);
    } catch {
      return path; // full
    }
  }
  throw new Error(`${dir} did not fill up`);
}

Deno.test({
  name:
    `a disk that fills during a UDP transfer keeps the whole slots written before, and the same command resumes once space is freed${
      probe ? "" : " (skipped: needs root to mount a small tmpfs)"
    }`,
  ignore: probe === null,
  fn: async () => {
    await using tmp = await tempDir();
    await using disk = (await smallDisk("8m"))!;
    const size = 6 * 1024 * 1024;
    const file = await patterned(tmp.path, "u.bin", size);
    await using receiver = await startListening([
      "receive",
      "--udp",
      "--keep",
      "--out",
      disk.path,
    ]);
    const part = join(disk.path, "u.bin.pasa.part");
    const sender = await slowUdpSendUnderWay(
      file,
      receiver.port,
      part,
      1024 * 1024,
    );
    const filler = await fillUp(disk.path);
    const cut = await within(30_000, "the sender", sender.output());
    const said = new TextDecoder().decode(cut.stderr);
    assert.equal(cut.code, 1, said);
    assert.match(said, /Cannot write u\.bin: .*(space|quota)/i);
    const tree = await listTree(disk.path);
    assert.ok(tree.includes("u.bin.pasa.part"), `the .part is kept: ${tree}`);
    assert.ok(!tree.includes("u.bin"));
    // Free space: the same command resumes what was kept.
    await Deno.remove(filler);
    const again = await sendTo(receiver.port, file, "--udp", "--json");
    assert.equal(again.code, 0, again.stderr);
    const resumed = events(again.stdout).find((e) => e.event === "resumed");
    assert.ok(resumed, "resumed from the kept .part");
    assert.equal(
      await sha256File(join(disk.path, "u.bin")),
      await sha256File(file),
    );
    receiver.kill();
    await receiver.result();
  },
});

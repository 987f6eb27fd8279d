/**
 * The floor of receiving a folder of small files in this runtime: the least
 * any receiver that keeps pasa's promise must do on the file system, with
 * nothing sent, decrypted, hashed or checked. Every file of a folder is read
 * into memory first (not timed); then, timed, each is created as
 * `NAME.pasa.part`, written, closed and renamed to its name, and, with
 * `--durable`, synced first, a group of 256 at a time with their syncs in
 * flight together, each directory synced after its renames (what pasa's
 * group commit does). Run it with the permissions pasa runs with (`deno
 * task bench` does): Deno's permission check is part of every call's cost.
 *
 * `deno run --allow-read --allow-write bench/many_floor.ts SRC OUT [--durable]`
 * prints `{"files": N, "seconds": S}`.
 *
 * @module
 */

import { dirname, join } from "node:path";

/** Every regular file under `root`, with its path relative to it and its bytes. */
function readTree(root: string): [string, Uint8Array][] {
  const files: [string, Uint8Array][] = [];
  const walk = (rel: string) => {
    for (const entry of Deno.readDirSync(join(root, rel))) {
      const path = rel === "" ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory) walk(path);
      else if (entry.isFile) {
        files.push([path, Deno.readFileSync(join(root, path))]);
      }
    }
  };
  walk("");
  return files;
}

/** Creates, writes and renames each file under `out`; seconds taken. */
export async function receiveFloor(
  files: readonly [string, Uint8Array][],
  out: string,
  durable: boolean,
): Promise<number> {
  const started = performance.now();
  const made = new Set<string>();
  for (let first = 0; first < files.length; first += 256) {
    const group = files.slice(first, first + 256);
    const open: Deno.FsFile[] = [];
    for (const [path, bytes] of group) {
      const dir = dirname(join(out, path));
      if (!made.has(dir)) {
        Deno.mkdirSync(dir, { recursive: true });
        made.add(dir);
      }
      const file = Deno.openSync(join(out, `${path}.pasa.part`), {
        write: true,
        createNew: true,
      });
      for (let done = 0; done < bytes.length;) {
        done += file.writeSync(bytes.subarray(done));
      }
      open.push(file);
    }
    if (durable) await Promise.all(open.map((file) => file.sync()));
    for (const file of open) file.close();
    const dirs = new Set<string>();
    for (const [path] of group) {
      Deno.renameSync(join(out, `${path}.pasa.part`), join(out, path));
      dirs.add(dirname(join(out, path)));
    }
    if (durable) {
      for (const dir of dirs) {
        const handle = Deno.openSync(dir, { read: true });
        handle.syncSync();
        handle.close();
      }
    }
  }
  return (performance.now() - started) / 1000;
}

if (import.meta.main) {
  const [src, out] = Deno.args;
  if (src === undefined || out === undefined) {
    throw new Error("usage: many_floor.ts SRC OUT [--durable]");
  }
  const files = readTree(src);
  const seconds = await receiveFloor(
    files,
    out,
    Deno.args.includes("--durable"),
  );
  // deno-lint-ignore no-console
  console.log(JSON.stringify({ files: files.length, seconds }));
}

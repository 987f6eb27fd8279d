/**
 * The mutation check: plants each bug of scripts/mutants_list.ts, one at a time, in a scratch
 * copy of the repository, runs the test files that should catch it, and
 * says which were caught. A bug that survives is a check no test holds.
 *
 *   deno task mutants            # all of them (about a minute each)
 *   deno task mutants 3 7        # some, by number
 *
 * @module
 */

import { join } from "node:path";
import { MUTANTS } from "./mutants_list.ts";
import { ROOT } from "./pasa.ts";

/** Copies the repository (without .git) into a new temporary directory. */
async function scratchCopy(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "pasa-mutant-" });
  const copy = async (from: string, to: string) => {
    for await (const e of Deno.readDir(from)) {
      if (e.name === ".git" || e.name === "dist") continue;
      const [a, b] = [join(from, e.name), join(to, e.name)];
      if (e.isDirectory) {
        await Deno.mkdir(b);
        await copy(a, b);
      } else if (e.isFile) await Deno.copyFile(a, b);
    }
  };
  await copy(ROOT, dir);
  return dir;
}

const say = (text: string) =>
  Deno.stdout.writeSync(new TextEncoder().encode(text + "\n"));
const only = Deno.args.map(Number);
let survivors = 0;
for (const [i, m] of MUTANTS.entries()) {
  if (only.length > 0 && !only.includes(i)) continue;
  const dir = await scratchCopy();
  try {
    const path = join(dir, m.file);
    const text = await Deno.readTextFile(path);
    const what = `[${i}] ${m.file}: ${m.from.trim().slice(0, 70)}`;
    if (!text.includes(m.from)) {
      say(`${what}: NOT FOUND (the code moved: update the mutant)`);
      survivors++;
      continue;
    }
    await Deno.writeTextFile(path, text.replace(m.from, m.to));
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "test",
        "--no-check",
        "--allow-run",
        "--allow-read",
        "--allow-write",
        "--allow-net",
        "--allow-env",
        "--allow-sys",
        ...m.tests.map((t) => join("tests", t)),
      ],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // Bounded: a mutant that hangs the tests counts as caught, and says so.
    const timer = setTimeout(() => child.kill("SIGKILL"), 400_000);
    const out = await child.output().finally(() => clearTimeout(timer));
    const log = new TextDecoder().decode(out.stdout).replace(
      // deno-lint-ignore no-control-regex
      /\x1b\[[0-9;]*m/g,
      "",
    );
    const failed = [
      ...new Set(
        log.split("\n").filter((l) => l.includes(" => ./tests/")).map((l) =>
          l.split(" => ")[0]
        ),
      ),
    ];
    if (out.success) {
      survivors++;
      say(`${what}: SURVIVED`);
    } else {
      say(
        `${what}: caught${out.signal ? " (hung, killed)" : ""} by ${
          failed.slice(0, 2).join("; ") || "the run"
        }`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
say(survivors === 0 ? "Every mutant was caught." : `${survivors} survived.`);
Deno.exit(survivors === 0 ? 0 : 1);

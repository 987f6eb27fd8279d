/**
 * `deno task compile` and `deno task compile:all`: single-file binaries of
 * pasa with exactly the permissions of the `pasa` task baked in.
 *
 *   deno task compile              # dist/pasa (or dist/pasa.exe) for this machine
 *   deno task compile:all          # dist/pasa-<target>[.exe] for five targets
 *   deno task compile --out DIR    # elsewhere (tests use this)
 *
 * Each binary gets a `NAME.sha256` beside it, in `sha256sum` format.
 * `deno compile` downloads its runtime (denort) from Deno's servers; where
 * that is impossible it fails with one sentence, or uses `DENORT_BIN`.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { basename, join } from "node:path";
import { parseArgs } from "node:util";
import { pasaFlags, ROOT } from "./pasa.ts";

/** The release targets, as `deno compile --target` names them. */
export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
] as const;

/** The one sentence said when the runtime cannot be had. */
export const NO_RUNTIME =
  "Cannot build the binary: deno compile must download its runtime (denort) from Deno's download server, " +
  "which this machine cannot reach; connect to the internet, or set DENORT_BIN to a denort executable of Deno " +
  Deno.version.deno;

/** Whether `deno compile`'s error output means the runtime could not be downloaded. */
export function isRuntimeUnavailable(stderr: string): boolean {
  return /denort|dl\.deno\.land|error sending request|dns error|failed to lookup address/i
    .test(stderr);
}

/** Thrown when a build fails; `message` is what to print. */
export class CompileError extends Error {}

/** Builds one binary and its sum file; returns the binary's path. */
export async function compile(
  target: string | undefined,
  outDir: string,
  name: string,
): Promise<string> {
  const exe = (target ?? Deno.build.target).includes("windows") ? ".exe" : "";
  const output = join(outDir, name + exe);
  const args = [
    "compile",
    ...pasaFlags(),
    ...(target ? ["--target", target] : []),
    // Loaded as a Worker by pasa bench, so not found by following imports.
    "--include",
    join(ROOT, "lib", "bench_worker.ts"),
    "--output",
    output,
    join(ROOT, "main.ts"),
  ];
  const result = await new Deno.Command(Deno.execPath(), {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!result.success) {
    const stderr = new TextDecoder().decode(result.stderr);
    throw new CompileError(
      isRuntimeUnavailable(stderr)
        ? NO_RUNTIME
        : `deno compile failed:\n${stderr.trim()}`,
    );
  }
  const sum = createHash("sha256").update(await Deno.readFile(output)).digest(
    "hex",
  );
  await Deno.writeTextFile(`${output}.sha256`, `${sum}  ${basename(output)}\n`);
  return output;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      all: { type: "boolean", default: false },
      out: { type: "string", default: join(ROOT, "dist") },
    },
  });
  const say = (text: string) =>
    Deno.stdout.writeSync(new TextEncoder().encode(text + "\n"));
  try {
    await Deno.mkdir(values.out!, { recursive: true });
    if (values.all) {
      for (const target of TARGETS) {
        say(`Built ${await compile(target, values.out!, `pasa-${target}`)}`);
      }
    } else {
      say(`Built ${await compile(undefined, values.out!, "pasa")}`);
    }
  } catch (error) {
    const message = error instanceof CompileError
      ? error.message
      : String(error);
    Deno.stderr.writeSync(new TextEncoder().encode(`pasa: ${message}\n`));
    Deno.exit(1);
  }
}

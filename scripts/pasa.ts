/**
 * How scripts and tests start pasa: `deno run` with exactly the permission
 * flags of the `pasa` task in deno.json (what the compiled binary gets).
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import config from "../deno.json" with { type: "json" };

/** The repository root. */
export const ROOT: string = fileURLToPath(new URL("..", import.meta.url));

// Every pasa the tests, the benchmark and the demo start inherits this: no
// receiver announces itself, and no sender looks for one, on this machine's
// own network (announcements are multicast on the LAN). The tests of
// discovery turn it back on inside the lab's network namespaces only.
try {
  Deno.env.set("PASA_DISCOVERY", "off");
} catch {
  // no --allow-env: nothing here starts pasa then
}

/** The permission and unstable flags of the `pasa` task, read from deno.json. */
export function pasaFlags(): string[] {
  return config.tasks.pasa.split(/\s+/).filter((w) => w.startsWith("--"));
}

/**
 * The argv that runs pasa: from source as the binary would
 * (`[deno, run, ...flags, main.ts, ...args]`), or the binary named by the
 * `PASA_BIN` environment variable.
 */
export function pasaArgv(args: string[]): string[] {
  // PASA_BIN runs the same commands against a compiled binary instead.
  const binary = Deno.env.get("PASA_BIN");
  if (binary) return [binary, ...args];
  return [
    Deno.execPath(),
    "run",
    "--quiet",
    ...pasaFlags(),
    join(ROOT, "main.ts"),
    ...args,
  ];
}

/** `deno run <flags of the pasa task> main.ts ...args`, output piped. */
export function pasaCommand(
  args: string[],
  options: {
    stdin?: "piped" | "null";
    stdout?: "piped" | "inherit" | "null";
    stderr?: "piped" | "inherit" | "null";
    /** More environment (PASA_CODE: "" hides an inherited code). */
    env?: Record<string, string>;
    /** A command prefix that runs it elsewhere (`ip netns exec HOST`). */
    on?: string[];
  } = {},
): Deno.Command {
  const [deno, ...argv] = [...(options.on ?? []), ...pasaArgv(args)];
  return new Deno.Command(deno!, {
    args: argv,
    stdin: options.stdin ?? "null",
    stdout: options.stdout ?? "piped",
    stderr: options.stderr ?? "piped",
    env: { NO_COLOR: "1", ...options.env },
  });
}

/** Reads a child's stdout up to its first line and parses it as JSON. */
export async function firstJsonLine(
  stream: ReadableStream<Uint8Array>,
): Promise<{ line: Record<string, unknown>; rest: () => Promise<string> }> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  const newline = text.indexOf("\n");
  const first = newline < 0 ? text : text.slice(0, newline);
  let line: Record<string, unknown>;
  try {
    line = JSON.parse(first);
  } catch {
    throw new Error(`Expected a JSON line, got: ${first || "(nothing)"}`);
  }
  let rest = text.slice(newline + 1);
  const done = (async () => {
    for (;;) {
      const r = await reader.read();
      if (r.done) return rest;
      rest += decoder.decode(r.value, { stream: true });
    }
  })();
  return { line, rest: () => done };
}

/**
 * A quiet receiver's arguments for the benchmarks: on `host`, a port the
 * system picks, into `out`, its first line the JSON `listening` event.
 */
export function quietReceiveArgs(
  flags: string[],
  host: string,
  out: string,
): string[] {
  return [
    "receive",
    ...flags,
    ...["--host", host, "--port", "0", "--out", out, "--json", "-q"],
  ];
}

/**
 * Test helpers: run the real CLI the way users do, with exactly the
 * permissions of the `pasa` task in deno.json (the binary's), never -A.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import config from "../deno.json" with { type: "json" };

/** The repository root. */
export const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** The fixtures directory. */
export const TESTFILES = join(ROOT, "testfiles");

/** The permission and unstable flags of the `pasa` task, read from deno.json. */
export function pasaFlags(): string[] {
  const words = config.tasks.pasa.split(/\s+/);
  return words.filter((w) => w.startsWith("--"));
}

/** `deno run <flags of the pasa task> main.ts ...args`. */
export function pasaCommand(
  args: string[],
  options: { stdin?: "piped" | "null"; env?: Record<string, string> } = {},
): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...pasaFlags(), join(ROOT, "main.ts"), ...args],
    stdin: options.stdin ?? "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...options.env },
  });
}

/** What a finished run printed and returned. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

const decoder = new TextDecoder();

/** Runs pasa to completion (bounded: pasa's own --timeout applies). */
export async function runPasa(args: string[], stdin?: Uint8Array): Promise<RunResult> {
  const child = pasaCommand(args, { stdin: stdin ? "piped" : "null" }).spawn();
  if (stdin) {
    const writer = child.stdin.getWriter();
    await writer.write(stdin).catch(() => {});
    await writer.close().catch(() => {});
  }
  const out = await child.output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** Parses JSON Lines output. */
export function events(stdout: string): Record<string, unknown>[] {
  return stdout.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
}

/** A running `pasa receive --json --port 0 ...` whose port is known. */
export interface Receiver extends AsyncDisposable {
  port: number;
  /** Waits for exit and returns everything it printed (the listening line included). */
  result(): Promise<RunResult>;
  /** Sends a signal (SIGINT by default). */
  kill(signal?: Deno.Signal): void;
}

/**
 * Starts a receiver (or `send --listen`) with `--port 0 --json` and waits
 * for its `listening` event to learn the port.
 */
export async function startListening(args: string[]): Promise<Receiver> {
  const child = pasaCommand([...args, "--port", "0", "--json"]).spawn();
  const reader = child.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  const first = text.split("\n")[0]!;
  let port: number;
  try {
    port = JSON.parse(first).port;
  } catch {
    const rest = await child.output().catch(() => undefined);
    throw new Error(`No listening event: ${first} ${rest ? decoder.decode(rest.stderr) : ""}`);
  }
  const rest = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      text += decoder.decode(value, { stream: true });
    }
  })();
  const stderr = new Response(child.stderr).text();
  let finished: Promise<RunResult> | undefined;
  const result = () =>
    finished ??= (async () => {
      const status = await child.status;
      await rest;
      return { code: status.code, stdout: text, stderr: await stderr };
    })();
  return {
    port,
    result,
    kill: (signal = "SIGINT") => {
      try {
        child.kill(signal);
      } catch {
        // already gone
      }
    },
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGKILL");
      } catch {
        // already exited
      }
      await result();
    },
  };
}

/** A temporary directory removed on dispose. */
export async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "pasa-test-" });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

/** SHA-256 of a file, hex. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path);
  const buf = new Uint8Array(1 << 20);
  for (;;) {
    const n = await file.read(buf);
    if (n === null) break;
    hash.update(buf.subarray(0, n));
  }
  return hash.digest("hex");
}

/** Every path below `dir`, relative, sorted; directories end with `/`. */
export async function listTree(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(join(dir, prefix))) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory) out.push(`${rel}/`, ...await listTree(dir, rel));
    else out.push(rel);
  }
  return out.sort();
}

/** The fixture digests from testfiles/SHA256SUMS, by relative path. */
export async function fixtureSums(): Promise<Map<string, string>> {
  const text = await Deno.readTextFile(join(TESTFILES, "SHA256SUMS"));
  const sums = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^([0-9a-f]{64}) {2}(.+)$/.exec(line);
    if (m) sums.set(m[2]!, m[1]!);
  }
  return sums;
}

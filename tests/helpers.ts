/**
 * Test helpers: run the real CLI the way users do, with exactly the
 * permissions of the `pasa` task in deno.json (the binary's), never -A.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import {
  firstJsonLine,
  pasaCommand,
  pasaFlags,
  ROOT,
} from "../scripts/pasa.ts";

export { pasaCommand, pasaFlags, ROOT } from "../scripts/pasa.ts";

/**
 * The pairing code of the tests: set in this process's environment, so
 * every pasa a test starts pairs with it through PASA_CODE, as a scripted
 * lab would. Tests of pairing itself override it.
 */
export const TEST_CODE = "42-test-pairing";
Deno.env.set("PASA_CODE", TEST_CODE);

/** The fixtures directory. */
export const TESTFILES = join(ROOT, "testfiles");

/** What a finished run printed and returned. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

const decoder = new TextDecoder();

/**
 * How long any one pasa a test starts may run: past it, it is killed and
 * its test fails saying so, rather than hang the suite.
 */
export const PASA_LIMIT_MS = 180_000;

/** Kills `child` after {@link PASA_LIMIT_MS}; returns whether it had to, and the canceller. */
function watchdog(child: Deno.ChildProcess) {
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // gone already
    }
  }, PASA_LIMIT_MS);
  return { killed: () => killed, cancel: () => clearTimeout(timer) };
}

function hung(args: string[]): Error {
  return new Error(
    `pasa ${args.join(" ")} did not exit within ${
      PASA_LIMIT_MS / 1000
    } s: killed`,
  );
}

/**
 * Spawns pasa with a watchdog armed at once: killed after
 * {@link PASA_LIMIT_MS}, so that no test waits on it for ever.
 */
export function spawnPasa(
  args: string[],
  options: Parameters<typeof pasaCommand>[1] = {},
): Deno.ChildProcess {
  const child = pasaCommand(args, options).spawn();
  const dog = watchdog(child);
  child.status.finally(dog.cancel);
  return child;
}

/** Runs pasa to completion, at most {@link PASA_LIMIT_MS}. */
export async function runPasa(
  args: string[],
  stdin?: Uint8Array,
  env?: Record<string, string>,
  on?: string[],
): Promise<RunResult> {
  const child = pasaCommand(args, {
    stdin: stdin ? "piped" : "null",
    ...(env ? { env } : {}),
    ...(on ? { on } : {}),
  }).spawn();
  const dog = watchdog(child);
  if (stdin) {
    const writer = child.stdin.getWriter();
    await writer.write(stdin).catch(() => {});
    await writer.close().catch(() => {});
  }
  const out = await child.output().finally(dog.cancel);
  if (dog.killed()) throw hung(args);
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
}

/** Runs `pasa send ...args --to 127.0.0.1:PORT` to completion. */
export function sendTo(port: number, ...args: string[]): Promise<RunResult> {
  return runPasa(["send", ...args, "--to", `127.0.0.1:${port}`]);
}

/** Parses JSON Lines output. */
export function events(stdout: string): Record<string, unknown>[] {
  return stdout.split("\n").filter((l) => l.trim() !== "").map((l) =>
    JSON.parse(l)
  );
}

/** A running `pasa receive --json --port 0 ...` whose port is known. */
export interface Receiver extends AsyncDisposable {
  port: number;
  /** Its `listening` event (the pairing code is `code`). */
  listening: Record<string, unknown>;
  /** The process id, for inspecting it (peak memory). */
  pid: number;
  /** Waits for exit and returns everything it printed (the listening line included). */
  result(): Promise<RunResult>;
  /** Sends a signal (SIGINT by default). */
  kill(signal?: Deno.Signal): void;
}

/**
 * Starts a receiver (or `send --listen`) with `--port 0 --json` and waits
 * for its `listening` event to learn the port.
 */
export async function startListening(
  args: string[],
  env?: Record<string, string>,
  on?: string[],
): Promise<Receiver> {
  const child = pasaCommand([...args, "--port", "0", "--json"], {
    ...(env ? { env } : {}),
    ...(on ? { on } : {}),
  }).spawn();
  // Armed before its first line: one that never prints it is killed.
  const dog = watchdog(child);
  const stderr = new Response(child.stderr).text();
  let first: Awaited<ReturnType<typeof firstJsonLine>>;
  try {
    first = await firstJsonLine(child.stdout);
  } catch (error) {
    await child.status.finally(dog.cancel);
    if (dog.killed()) throw hung(args);
    throw new Error(`${(error as Error).message}\n${await stderr}`);
  }
  if (first.line.event !== "listening") {
    child.kill("SIGKILL");
    await child.status.finally(dog.cancel);
    throw new Error(
      `Expected the listening event first, got ${JSON.stringify(first.line)}`,
    );
  }
  const port = first.line.port as number;
  const firstLine = JSON.stringify(first.line) + "\n";
  let finished: Promise<RunResult> | undefined;
  const result = () =>
    finished ??= (async () => {
      const status = await child.status.finally(dog.cancel);
      if (dog.killed()) throw hung(args);
      return {
        code: status.code,
        stdout: firstLine + await first.rest(),
        stderr: await stderr,
      };
    })();
  return {
    port,
    listening: first.line,
    pid: child.pid,
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

/** `pasa receive --keep --out OUT ...flags`, listening on a free port (paired with the tests' code). */
export function keepReceiver(
  out: string,
  ...flags: string[]
): Promise<Receiver> {
  return startListening(["receive", "--keep", ...flags, "--out", out]);
}

/** Writes `dir/name`: `size` bytes of a fixed pattern; returns its path. */
export async function patterned(
  dir: string,
  name: string,
  size: number,
): Promise<string> {
  const path = join(dir, name);
  await Deno.writeFile(
    path,
    new Uint8Array(size).map((_, i) => (i * 7 + (i >> 11)) & 0xff),
  );
  return path;
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

/** A process's peak resident set in bytes (Linux), or null where /proc is unreadable. */
export async function peakRss(pid: number): Promise<number | null> {
  // Deno reads /proc only with --allow-all; cat needs just --allow-run.
  const out = await new Deno.Command("cat", {
    args: [`/proc/${pid}/status`],
    stdout: "piped",
    stderr: "null",
  })
    .output().catch(() => null);
  const m = out?.success
    ? /VmHWM:\s+(\d+) kB/.exec(new TextDecoder().decode(out.stdout))
    : null;
  return m ? Number(m[1]) * 1024 : null;
}

/** What {@link within} throws when the wait is over: never to be caught as an answer. */
export class StillWaiting extends Error {}

/**
 * Waits for `promise` at most `ms`: a hung pasa fails its test with a
 * message saying what it was waiting for, and never hangs the suite.
 */
export async function within<T>(
  ms: number,
  what: string,
  promise: Promise<T>,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new StillWaiting(`Still waiting after ${ms} ms for ${what}`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Starts `pasa send FILE --udp --rate 20M` to 127.0.0.1:`port` (slow, so
 * it can be cut mid-pass) and waits, at most 20 s, until the receiver's
 * `part` holds `bytes`. Returns the running sender.
 */
export async function slowUdpSendUnderWay(
  file: string,
  port: number,
  part: string,
  bytes: number,
): Promise<Deno.ChildProcess> {
  const sender = pasaCommand([
    "send",
    file,
    "--udp",
    "--rate",
    "20M",
    "--to",
    `127.0.0.1:${port}`,
  ]).spawn();
  const deadline = performance.now() + 20_000;
  while ((await Deno.stat(part).then((i) => i.size, () => 0)) < bytes) {
    if (performance.now() > deadline) {
      sender.kill("SIGKILL");
      await sender.output();
      throw new Error(`The transfer did not get under way: ${part}`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  return sender;
}

/**
 * pasa running on a terminal (`script` makes one): what it printed, and a
 * keyboard. Disposing of it closes the keyboard and kills it if it still
 * runs (a check failed).
 */
export interface OnTerminal extends AsyncDisposable {
  child: Deno.ChildProcess;
  /** Types `text` on its terminal. */
  type(text: string): Promise<void>;
  /** Resolves once its output matches `pattern` (within `ms`), with the output so far. */
  seen(pattern: RegExp, ms?: number): Promise<string>;
  /** Everything it printed, once it ends. */
  output: Promise<string>;
}

/**
 * Runs pasa with `args` on a terminal (`script`, from util-linux, makes
 * one), typing `typed` at once (it waits in the terminal until read); a
 * reason instead where `script` is missing.
 */
export async function onTerminal(
  args: string[],
  typed = "",
): Promise<OnTerminal | string> {
  const line = [Deno.execPath(), "run", ...pasaFlags(), "main.ts", ...args]
    .map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("script", {
      args: ["-qec", line, "/dev/null"],
      cwd: ROOT,
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
  } catch {
    return "needs script (util-linux)";
  }
  const writer = child.stdin.getWriter();
  const type = (text: string) => writer.write(new TextEncoder().encode(text));
  if (typed !== "") await type(typed);
  let text = "";
  const output = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stdout) {
      text += decoder.decode(chunk, { stream: true });
    }
    return text;
  })();
  const seen = async (pattern: RegExp, ms = 20_000) => {
    const until = performance.now() + ms;
    while (!pattern.test(text)) {
      if (performance.now() > until) {
        throw new Error(`Not seen on the terminal: ${pattern}\n${text}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return text;
  };
  return {
    child,
    type,
    seen,
    output,
    async [Symbol.asyncDispose]() {
      await child.stdin.close().catch(() => {});
      try {
        child.kill("SIGKILL");
      } catch { /* ended */ }
      await child.status;
    },
  };
}

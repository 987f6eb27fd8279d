/**
 * pasa: copy files between two machines over TCP, verified with SHA-256.
 *
 * CLI wiring only: parse the arguments, run the command with this process's
 * streams, print, exit. The only module that touches Deno.args, Deno.exit
 * and the standard streams.
 *
 * @module
 */

import { parseArgs } from "./lib/cli.ts";
import type { Runtime } from "./lib/commands.ts";
import { codeOf, ExitCode, exitCodeOf } from "./lib/errors.ts";
import { jsonLine } from "./lib/report.ts";

const encoder = new TextEncoder();

function writeSync(
  stream: { writeSync(p: Uint8Array): number },
  text: string,
): void {
  const bytes = encoder.encode(text);
  try {
    let done = 0;
    while (done < bytes.length) done += stream.writeSync(bytes.subarray(done));
  } catch {
    // The reader went away (`pasa ... | head`): the transfer goes on, and
    // the exit code still tells how it ended.
  }
}

/** What was typed on the terminal past the last line read. */
let typedAhead = "";
const decoder = new TextDecoder();

/**
 * The next line typed on the terminal, read only when asked for and
 * without blocking the event loop; null once input ends.
 */
async function readLine(): Promise<string | null> {
  const buf = new Uint8Array(1024);
  for (;;) {
    const end = typedAhead.search(/\r?\n|\r/);
    if (end >= 0) {
      const line = typedAhead.slice(0, end);
      typedAhead = typedAhead.slice(end).replace(/^(\r\n|\n|\r)/, "");
      return line;
    }
    const n = await Deno.stdin.read(buf);
    if (n === null) return null;
    typedAhead += decoder.decode(buf.subarray(0, n), { stream: true });
  }
}

/** Resolves when a line is typed on the terminal; never, if it closes first. */
async function enterPressed(): Promise<void> {
  if (await readLine() === null) return await new Promise<never>(() => {});
}

const controller = new AbortController();
function onSignal(): void {
  // A second Ctrl-C leaves at once; the first lets transfers clean up.
  if (controller.signal.aborted) Deno.exit(ExitCode.interrupted);
  controller.abort();
}
Deno.addSignalListener("SIGINT", onSignal);
if (Deno.build.os !== "windows") Deno.addSignalListener("SIGTERM", onSignal);

const runtime: Runtime = {
  output: {
    out: (text) => writeSync(Deno.stdout, text),
    err: (text) => writeSync(Deno.stderr, text),
  },
  stdin: Deno.stdin,
  stdout: Deno.stdout,
  signal: controller.signal,
  env: (name) => {
    try {
      return Deno.env.get(name);
    } catch {
      return undefined; // not allowed: as if unset
    }
  },
};
if (Deno.stdin.isTerminal()) {
  runtime.prompt = (question) => prompt(question);
  runtime.ask = (question) => {
    writeSync(Deno.stdout, `${question} `);
    return readLine();
  };
  runtime.enterPressed = enterPressed;
}
if (Deno.stderr.isTerminal()) {
  runtime.terminal = {
    write: (text) => writeSync(Deno.stderr, text),
    columns: () => {
      try {
        return Deno.consoleSize().columns;
      } catch {
        return 80;
      }
    },
  };
}

let code: number;
try {
  const command = parseArgs(Deno.args);
  if (command.kind === "text") {
    writeSync(command.exitCode === 0 ? Deno.stdout : Deno.stderr, command.text);
    code = command.exitCode;
  } else {
    // Loaded only now, so that --help and --version start fast.
    const { runBenchCommand, runReceive, runSend } = await import(
      "./lib/commands.ts"
    );
    code = command.kind === "receive"
      ? await runReceive(command, runtime)
      : command.kind === "send"
      ? await runSend(command, runtime)
      : await runBenchCommand(command, runtime);
  }
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  if (Deno.args.includes("--json")) {
    writeSync(
      Deno.stdout,
      jsonLine({
        event: "error",
        code: codeOf(error),
        exitCode: exitCodeOf(error),
        message,
      }),
    );
  }
  writeSync(Deno.stderr, `pasa: ${message}\n`);
  code = exitCodeOf(error);
}
Deno.exit(code);

/**
 * What every command shares: the {@link Runtime} main.ts hands it, how a
 * side pairs, the progress bar, waiting for a connection, and what is said
 * of `--insecure`.
 *
 * @module
 */

import { generateCode, normalizeCode } from "./codes.ts";
import { InterruptedError, UsageError } from "./errors.ts";
import type { ByteSink, ByteSource } from "./frames.ts";
import { ProgressBar } from "./progress.ts";
import type { Output } from "./report.ts";
import { type Pairing, secretOf } from "./secure.ts";
import { warmUp } from "./pake.ts";
import type { TransferState } from "./session.ts";

/** What a command may use of the process; main.ts provides the real one. */
export interface Runtime {
  /** stdout and stderr for text. */
  output: Output;
  /** Raw standard input and output, for `send -` and `receive --stdout`. */
  stdin: ByteSource;
  stdout: ByteSink;
  /** Writes to the terminal for the progress bar; undefined when stderr is not one. */
  terminal?: { write(text: string): void; columns(): number };
  /** Aborted on Ctrl-C. */
  signal: AbortSignal;
  /** Reads an environment variable (only PASA_CODE and PASA_DISCOVERY are asked for). */
  env(name: string): string | undefined;
  /** Asks the user a question; undefined when standard input is not a terminal. */
  prompt?: (question: string) => string | null;
  /**
   * Asks the user a question without stopping anything else (timers and
   * connections go on); the line typed, or null at the end of input.
   * Undefined when standard input is not a terminal.
   */
  ask?: (question: string) => Promise<string | null>;
  /** Resolves when the user presses Enter; undefined when standard input is not a terminal. */
  enterPressed?: () => Promise<void>;
}

/** What a command says about pairing. */
interface SecurityFlags {
  raw?: boolean;
  code?: string;
  insecure: boolean;
}

/**
 * How a command pairs: undefined for `--insecure` and `--raw`. The code is
 * `--code`, else PASA_CODE; else a listening side makes one up and a
 * connecting side asks for it on the terminal (unless standard input
 * carries the data).
 */
export function pairingOf(
  flags: SecurityFlags,
  rt: Runtime,
  listening: boolean,
  canPrompt = true,
): Pairing | undefined {
  if (flags.raw || flags.insecure) return undefined;
  let code = flags.code === undefined ? undefined : normalizeCode(flags.code);
  const env = rt.env("PASA_CODE");
  if (code === undefined && env) code = normalizeCode(env, "PASA_CODE");
  if (code === undefined && listening) code = generateCode();
  if (code === undefined && canPrompt && rt.prompt) {
    const typed = rt.prompt("Code (as printed on the other side):");
    if (typed) code = normalizeCode(typed, "the prompt");
  }
  if (code === undefined) {
    throw new UsageError(
      "This side needs the code the other side printed: --code CODE or PASA_CODE=CODE (or --insecure on both sides)",
    );
  }
  secretOf(code); // the memory-hard step, now rather than mid-handshake
  // A side that waits has time: the curve's first, slow multiplication too.
  if (listening) warmUp();
  return { code, initiator: !listening };
}

/** What to add to the command suggested to the other side. */
export function securityHint(
  pairing: Pairing | undefined,
  raw: boolean,
): string {
  if (raw) return "";
  return pairing ? ` --code ${pairing.code}` : " --insecure";
}

/** A progress bar when stderr is a terminal, and output that steps around it. */
export function progressFor(rt: Runtime, quiet: boolean, state: TransferState) {
  const terminal = quiet ? undefined : rt.terminal;
  const bar = terminal ? new ProgressBar(state, terminal) : undefined;
  const output: Output = bar
    ? {
      out: (text) => {
        bar.clear();
        rt.output.out(text);
      },
      err: (text) => {
        bar.clear();
        rt.output.err(text);
      },
    }
    : rt.output;
  return { bar, output };
}

/**
 * The next connection. An error about one connection (a peer that reset
 * before accept() returned, ENOTCONN, or a passing lack of descriptors) is
 * handed to `onTrouble` and the listener keeps listening, backing off up
 * to 100 ms while errors repeat; only Ctrl-C (InterruptedError) or a
 * closed listener (`stopped`) ends the wait.
 */
export async function accept(
  listener: Deno.Listener,
  signal: AbortSignal,
  onTrouble: (error: unknown) => void = () => {},
  stopped: () => boolean = () => false,
): Promise<Deno.Conn> {
  const onAbort = () => listener.close();
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    for (let failures = 0;; failures++) {
      try {
        return await listener.accept();
      } catch (error) {
        if (signal.aborted) throw new InterruptedError();
        if (stopped() || error instanceof Deno.errors.BadResource) throw error;
        onTrouble(error);
        // A connection reset while queued is that connection's trouble: take
        // the next one at once (a backlog of them must drain fast). Anything
        // else (no descriptors left) may repeat: do not spin on it.
        const oneConnection = error instanceof Deno.errors.NotConnected ||
          error instanceof Deno.errors.ConnectionReset ||
          error instanceof Deno.errors.ConnectionAborted;
        if (!oneConnection && failures > 0) {
          await new Promise((r) => setTimeout(r, Math.min(100, failures)));
        }
      }
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

export function setNoDelay(conn: Deno.Conn): void {
  if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
}

/** Said on both sides of an `--insecure` transfer. */
export const INSECURE_WARNING =
  "--insecure: no pairing code, and the data travels unencrypted; anyone on the network can read or change it";

/**
 * The commands: `receive` and `send` put together from the transport, the
 * session state machines, the progress bar and the reporter. They return
 * an exit code and never exit or touch the console themselves: main.ts
 * hands them a {@link Runtime}.
 *
 * @module
 */

import { resolve } from "node:path";
import { type Interval, reverseServer, runBench } from "./bench.ts";
import {
  benchJson,
  renderBenchSvg,
  renderBenchTable,
  renderInterval,
} from "./bench_report.ts";
import type { BenchCommand, ReceiveCommand, SendCommand } from "./cli.ts";
import { generateCode, normalizeCode } from "./codes.ts";
import {
  AuthError,
  ExitCode,
  exitCodeOf,
  InterruptedError,
  NetworkError,
  PasaError,
  RefusedError,
  UsageError,
} from "./errors.ts";
import type { ByteSink, ByteSource } from "./frames.ts";
import { Destination, type FileSink, Scratch, StreamSink } from "./fsio.ts";
import { Link } from "./link.ts";
import { ProgressBar } from "./progress.ts";
import { checkRawSize, rawReceive, rawSend } from "./raw.ts";
import { type ReceiveOptions, receiveSession } from "./receive.ts";
import { type Output, Reporter } from "./report.ts";
import {
  Admission,
  LogLimiter,
  ManifestBudget,
  type Ticket,
} from "./admission.ts";
import { sendSession } from "./send.ts";
import {
  LOCKOUT_FAILURES,
  type Pairing,
  PairingGate,
  secretOf,
} from "./secure.ts";
import { refuseConnection, TransferState } from "./session.ts";
import { collectSources, type Source } from "./sources.ts";
import { connect, isLoopback, lanAddresses, listen, peerName } from "./tcp.ts";
import { DATAGRAM_SIZE_LOOPBACK, DATAGRAM_SIZE_NETWORK } from "./udp.ts";
import { UdpEndpoint } from "./udp_receive.ts";
import type { UdpSendOptions } from "./udp_send.ts";

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
  /** Reads an environment variable (only PASA_CODE is asked for). */
  env(name: string): string | undefined;
  /** Asks the user a question; undefined when standard input is not a terminal. */
  prompt?: (question: string) => string | null;
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
  return { code, initiator: !listening };
}

/** What to add to the command suggested to the other side. */
function securityHint(pairing: Pairing | undefined, raw: boolean): string {
  if (raw) return "";
  return pairing ? ` --code ${pairing.code}` : " --insecure";
}

/** A progress bar when stderr is a terminal, and output that steps around it. */
function progressFor(rt: Runtime, quiet: boolean, state: TransferState) {
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
async function accept(
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

/** A peer's address without its port: what limits and logs count by. */
function addressOf(conn: Deno.Conn): string {
  return (conn.remoteAddr as Deno.NetAddr).hostname;
}

function setNoDelay(conn: Deno.Conn): void {
  if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
}

/** `pasa receive`: returns the exit code. */
export async function runReceive(
  cmd: ReceiveCommand,
  rt: Runtime,
): Promise<number> {
  // With --stdout the file owns stdout, so all text goes to stderr.
  const base: Runtime = cmd.stdout
    ? { ...rt, output: { out: rt.output.err, err: rt.output.err } }
    : rt;
  const reporter = new Reporter(base.output, {
    json: cmd.json,
    quiet: cmd.quiet,
  });
  try {
    const dest = new Destination(resolve(cmd.out), {
      force: cmd.force,
      maxSize: cmd.maxSize,
    });
    if (!cmd.stdout) await dest.prepare();
    const pairing = pairingOf(cmd, rt, cmd.from === undefined);
    // After the listening line, which scripts read first.
    const warnInsecure = () =>
      cmd.insecure && reporter.warning(INSECURE_WARNING);
    if (cmd.from) {
      warnInsecure();
      const conn = await connect(cmd.from);
      return await serve(conn, cmd, base, dest, reporter, true, { pairing });
    }
    const listener = listen(cmd.host, cmd.port);
    const addr = listener.addr as Deno.NetAddr;
    let udp: UdpEndpoint | undefined;
    // UDP only when asked for: a port nobody opened is nothing to attack.
    if (cmd.udp) {
      try {
        udp = UdpEndpoint.bind(cmd.host, addr.port);
      } catch (error) {
        listener.close();
        throw error;
      }
    }
    reporter.listening({
      host: addr.hostname,
      port: addr.port,
      addresses: lanAddresses(),
      command: cmd.raw
        ? "pasa send FILE --raw --to ADDR"
        : `pasa send PATH${cmd.udp ? " --udp" : ""} --to ADDR${
          securityHint(pairing, cmd.raw)
        }`,
      role: "receiver",
      raw: cmd.raw,
      udp: udp !== undefined,
      code: pairing?.code ?? null,
    });
    warnInsecure();
    try {
      return await serveMany(listener, cmd, base, dest, reporter, {
        udp,
        pairing,
      });
    } finally {
      await udp?.close();
    }
  } catch (error) {
    reporter.error(error);
    return exitCodeOf(error);
  }
}

/**
 * Whether a failed connection ends a one-shot receiver: once it paired,
 * or when a pasa peer was refused the pairing (wrong code, one side
 * `--insecure`, both the same role, another version). A stranger that
 * reset, timed out or spoke something else before pairing does not.
 */
function endsOneShot(error: unknown, paired: boolean): boolean {
  return paired || error instanceof AuthError ||
    (error instanceof PasaError && ["role", "version"].includes(error.code));
}

/**
 * The listening receiver. Every connection is served on its own, so one
 * failing never stops the rest; connections wait unpaired in a pool of
 * their own (admission.ts) and take a transfer slot only once paired, and
 * what is said about an address before it paired is rate-limited. With
 * `--keep` it serves until interrupted; without, it ends with the first
 * transfer (one slot, one guess at the code), ignoring strangers that never
 * paired.
 */
async function serveMany(
  listener: Deno.Listener,
  cmd: ReceiveCommand,
  rt: Runtime,
  dest: Destination,
  reporter: Reporter,
  serving: Serving,
): Promise<number> {
  const once = !cmd.keep;
  const active = new Map<Promise<unknown>, () => void>();
  let outcome: number | undefined;
  const stop = () => {
    try {
      listener.close();
    } catch {
      // closed already
    }
  };
  // Too many wrong codes: someone may be guessing. Stop taking connections.
  const gate = new PairingGate(once ? 1 : LOCKOUT_FAILURES, stop);
  const pairing = serving.pairing && { ...serving.pairing, gate };
  const admission = new Admission({
    maxTransfers: once ? 1 : cmd.maxConnections,
  });
  const budget = new ManifestBudget();
  const logs = new LogLimiter();
  /** Says `say(note)` unless too much was said about `address` lately. */
  const limited = (address: string, say: (note: string) => void) => {
    const { show, hidden } = logs.allow(address, performance.now());
    if (!show) return;
    say(
      hidden > 0
        ? ` (${hidden} more like this from ${address} were not shown)`
        : "",
    );
  };
  const busyError = () =>
    new RefusedError(
      once
        ? "Receiver is busy with another transfer; try again later"
        : `Receiver is busy: it serves at most ${cmd.maxConnections} transfers at once (--max-connections); try again later`,
      "busy",
    );
  let interrupted = false;
  for (;;) {
    let conn: Deno.Conn;
    try {
      conn = await accept(
        listener,
        rt.signal,
        (error) =>
          limited("accept", (note) =>
            reporter.warning(
              `A connection failed before it was accepted: ${
                (error as Error).message
              }; still listening${note}`,
            )),
        () => gate.locked || outcome !== undefined,
      );
    } catch (error) {
      if (error instanceof InterruptedError) interrupted = true;
      else if (!gate.locked && outcome === undefined) {
        reporter.error(error, "Cannot accept connections");
        outcome ??= exitCodeOf(error);
      }
      break;
    }
    const peer = peerName(conn);
    const address = addressOf(conn);
    if (admission.full) {
      // Refuse with a reason the sender can print, rather than a silent reset.
      limited(address, (note) =>
        reporter.warning(
          `Refused ${peer}: ${
            once ? "a transfer is" : `${cmd.maxConnections} transfers are`
          } already in progress${note}`,
        ));
      const link = new Link(conn, { timeoutMs: 2000 });
      refuseConnection(link, busyError()).finally(() => link.close());
      continue;
    }
    let dropped = false;
    const close = () => {
      dropped = true;
      try {
        conn.close();
      } catch {
        // closed already
      }
    };
    const ticket = admission.admit(address, close);
    // A one-shot receiver draws its progress bar; --keep's concurrent
    // transfers would fight over one terminal line.
    const task: Promise<unknown> = serve(
      conn,
      cmd,
      rt,
      dest,
      reporter,
      once,
      {
        ...serving,
        pairing,
        ticket,
        busy: busyError,
        budget: {
          take: (bytes) => budget.take(address, bytes),
          give: (bytes) => budget.give(address, bytes),
        },
      },
    )
      .then((code) => {
        if (once) outcome ??= code;
      })
      .catch((error) => {
        const paired = ticket.state === "transfer";
        // Made room for newer connections, or let go: nothing to say.
        if (!paired && (dropped || error instanceof InterruptedError)) return;
        if (once && endsOneShot(error, paired)) {
          if (outcome === undefined) reporter.error(error);
          outcome ??= exitCodeOf(error);
        } else if (paired) {
          reporter.error(error, `Transfer from ${peer} failed`);
        } else {
          limited(
            address,
            (note) =>
              reporter.error(error, `Connection from ${peer} failed${note}`),
          );
        }
      })
      .finally(() => {
        ticket.end();
        active.delete(task);
        if (outcome !== undefined) stop();
      });
    active.set(task, close);
  }
  // A one-shot receiver is done: strangers still waiting are let go.
  if (outcome !== undefined) { for (const close of active.values()) close(); }
  const unfinished = admission.transfers > 0;
  await Promise.all(active.keys());
  if (outcome !== undefined) return outcome;
  if (gate.locked) {
    reporter.error(
      new AuthError(
        `Stopped after ${gate.failures} connections gave a wrong code: someone may be guessing it. Start a new receiver (it makes a new code)`,
        "locked",
      ),
    );
    return ExitCode.auth;
  }
  if (interrupted && once) reporter.error(new InterruptedError());
  return interrupted && (once || unfinished)
    ? ExitCode.interrupted
    : ExitCode.ok;
}

/** What every connection of a receiver shares. */
interface Serving {
  udp?: UdpEndpoint | undefined;
  pairing?: Pairing | undefined;
  /** A listening receiver's bookkeeping of this connection. */
  ticket?: Ticket;
  /** The refusal for a peer that paired when no transfer slot was free. */
  busy?: () => RefusedError;
  /** The receiver's memory for manifests, bound to this peer. */
  budget?: ReceiveOptions["budget"];
}

/** Said on both sides of an `--insecure` transfer. */
const INSECURE_WARNING =
  "--insecure: no pairing code, and the data travels unencrypted; anyone on the network can read or change it";

/** One receiving connection, start to end: returns the exit code, throws on failure. */
async function serve(
  conn: Deno.Conn,
  cmd: ReceiveCommand,
  rt: Runtime,
  dest: Destination,
  reporter: Reporter,
  withBar: boolean,
  serving: Serving = {},
): Promise<number> {
  setNoDelay(conn);
  const peer = peerName(conn);
  const udp = serving.udp;
  const ticket = serving.ticket;
  using link = new Link(conn, {
    timeoutMs: cmd.timeoutMs,
    signal: rt.signal,
    ...(serving.pairing
      ? { pairing: { ...serving.pairing, onShare: () => ticket?.progress() } }
      : {}),
  });
  const state = new TransferState();
  const { bar, output } = progressFor(rt, cmd.quiet || !withBar, state);
  const say = bar
    ? new Reporter(output, { json: cmd.json, quiet: cmd.quiet })
    : reporter;
  // Said once the peer paired: strangers are not transfers.
  const paired = () => {
    if (ticket && !ticket.paired()) {
      throw serving.busy?.() ?? new RefusedError("Receiver is busy", "busy");
    }
    say.connected(peer, cmd.from === undefined);
    bar?.start();
  };
  const scratch = new Scratch(cmd.maxSize);
  try {
    if (cmd.raw) {
      paired();
      const name = cmd.name ?? "-";
      let sink: FileSink;
      const entries = [{ path: name, type: "file" as const, size: null }];
      if (cmd.stdout) sink = new StreamSink(rt.stdout);
      else {
        await dest.vet(entries);
        sink = await dest.open(name).catch((error) => {
          dest.release(entries);
          throw error;
        });
      }
      try {
        const result = await rawReceive(link, sink, name, cmd.maxSize, state);
        bar?.stop();
        say.raw(result, "receiver");
      } finally {
        if (!cmd.stdout) dest.release(entries);
      }
      return ExitCode.ok;
    }
    const result = await receiveSession(link, dest, {
      state,
      peer,
      scratch,
      // Only a listening receiver serves bench --reverse clients; one that
      // connected out (--from) expects a sender.
      ...(cmd.from === undefined
        ? {
          reverse: reverseServer(
            link,
            (conn.remoteAddr as Deno.NetAddr).hostname,
          ),
        }
        : {}),
      ...(cmd.stdout ? { stdout: new StreamSink(rt.stdout) } : {}),
      ...(udp ? { udp } : {}),
      onHandshake: paired,
      ...(serving.budget ? { budget: serving.budget } : {}),
      onManifest: (entries) =>
        say.manifest(
          state.files,
          entries.length - state.files,
          state.totalBytes,
        ),
      onChecking: (name, bytes) => say.checking(name, bytes),
      onResumed: (name, offset) => say.resumed(name, offset),
      onSkipped: (name) => say.skipped(name),
      onFile: (file) => say.file(file),
    });
    bar?.stop();
    say.summary({ ...result, encrypted: link.pairing !== undefined });
    return result.incomplete ? ExitCode.integrity : ExitCode.ok;
  } finally {
    bar?.stop();
    await scratch.close();
  }
}

/** UDP settings for a send: datagram size and starting rate follow the target. */
function udpOptions(cmd: SendCommand, remote: Deno.NetAddr): UdpSendOptions {
  const local = isLoopback(remote.hostname);
  return {
    datagramSize: cmd.datagramSize ??
      (local ? DATAGRAM_SIZE_LOOPBACK : DATAGRAM_SIZE_NETWORK),
    initialRate: local ? 2e9 : 1e8,
    lossy: cmd.lossy,
    target: { hostname: remote.hostname, port: remote.port },
    ...(cmd.rate !== undefined ? { rate: cmd.rate } : {}),
  };
}

/** Whether a failed send may be tried again: the connection failed, not the data or a refusal. */
function retryable(error: unknown): boolean {
  return error instanceof PasaError &&
    ["network", "timeout", "truncated"].includes(error.code);
}

/** `pasa send`: returns the exit code. */
export async function runSend(cmd: SendCommand, rt: Runtime): Promise<number> {
  const reporter = new Reporter(rt.output, {
    json: cmd.json,
    quiet: cmd.quiet,
  });
  try {
    const { sources, warnings } = await collectSources(cmd.paths, cmd.name);
    for (const w of warnings) reporter.warning(w);
    const only = sources[0]?.entry;
    if (cmd.raw) {
      if (sources.length !== 1 || only?.type !== "file") {
        throw new UsageError("--raw sends exactly one regular file");
      }
      checkRawSize(only.size, only.path);
    }
    // Standard input cannot be read twice: one attempt only.
    const fromStdin = sources.some((s) => s.local === null);
    const attempts = fromStdin ? 1 : 1 + cmd.retry;
    // Asked once, before connecting: every retry pairs with the same code.
    const pairing = pairingOf(cmd, rt, cmd.listen, !fromStdin);
    if (cmd.insecure && !cmd.listen) reporter.warning(INSECURE_WARNING);
    for (let attempt = 1;; attempt++) {
      try {
        return await sendOnce(cmd, rt, sources, pairing);
      } catch (error) {
        if (attempt >= attempts || !retryable(error) || rt.signal.aborted) {
          throw error;
        }
        const wait = Math.min(30, 2 ** (attempt - 1));
        reporter.warning(
          `${(error as Error).message}; trying again in ${wait} s (attempt ${
            attempt + 1
          } of ${attempts})`,
        );
        await new Promise((resolve) => setTimeout(resolve, wait * 1000));
      }
    }
  } catch (error) {
    reporter.error(error);
    return exitCodeOf(error);
  }
}

/** One connection's worth of `pasa send`. Throws on failure. */
async function sendOnce(
  cmd: SendCommand,
  rt: Runtime,
  sources: Source[],
  pairing: Pairing | undefined,
): Promise<number> {
  const reporter = new Reporter(rt.output, {
    json: cmd.json,
    quiet: cmd.quiet,
  });
  const only = sources[0]?.entry;
  let conn: Deno.Conn;
  if (cmd.listen) {
    const listener = listen(cmd.host, cmd.port);
    const addr = listener.addr as Deno.NetAddr;
    reporter.listening({
      host: addr.hostname,
      port: addr.port,
      addresses: lanAddresses(),
      command: cmd.raw
        ? `pasa receive --raw --name ${only!.path} --from ADDR`
        : `pasa receive --from ADDR${securityHint(pairing, cmd.raw)}`,
      role: "sender",
      raw: cmd.raw,
      code: pairing?.code ?? null,
    });
    if (cmd.insecure) reporter.warning(INSECURE_WARNING);
    try {
      conn = await accept(listener, rt.signal);
    } finally {
      listener.close();
    }
  } else {
    conn = await connect(cmd.to!);
  }
  setNoDelay(conn);
  const peer = peerName(conn);
  using link = new Link(conn, {
    timeoutMs: cmd.timeoutMs,
    signal: rt.signal,
    ...(pairing ? { pairing } : {}),
  });
  const state = new TransferState();
  const { bar, output } = progressFor(rt, cmd.quiet, state);
  const say = new Reporter(output, { json: cmd.json, quiet: cmd.quiet });
  say.connected(peer, cmd.listen);
  bar?.start();
  try {
    if (cmd.raw && only?.type === "file") {
      const file = await Deno.open(sources[0]!.local!, { read: true });
      try {
        const result = await rawSend(link, file, only.path, only.size!, state);
        bar?.stop();
        say.raw(result, "sender");
      } finally {
        file.close();
      }
      return ExitCode.ok;
    }
    const dirs = sources.filter((s) => s.entry.type === "dir").length;
    const result = await sendSession(link, sources, {
      state,
      stdin: rt.stdin,
      peer,
      noResume: cmd.noResume,
      ...(cmd.udp
        ? { udp: udpOptions(cmd, conn.remoteAddr as Deno.NetAddr) }
        : {}),
      onAccepted: () => say.manifest(state.files, dirs, state.totalBytes),
      onChecking: (name, bytes) => say.checking(name, bytes),
      onResumed: (name, offset) => say.resumed(name, offset),
      onRestart: (name) => say.restart(name),
      onSkipped: (name) => say.skipped(name),
      onFile: (file) => say.file(file),
    });
    bar?.stop();
    say.summary({ ...result, encrypted: link.pairing !== undefined });
    return result.verified ? ExitCode.ok : ExitCode.integrity;
  } finally {
    bar?.stop();
  }
}

/** `pasa bench`: returns the exit code (1 if any run failed). */
export async function runBenchCommand(
  cmd: BenchCommand,
  rt: Runtime,
): Promise<number> {
  const reporter = new Reporter(rt.output, {
    json: cmd.json,
    quiet: cmd.quiet,
  });
  const live = !cmd.json && !cmd.quiet;
  try {
    if (cmd.file) {
      await Deno.stat(cmd.file).catch(() => {
        throw new UsageError(`Cannot measure ${cmd.file}: no such file`);
      });
    }
    // The embedded receiver shares a made-up code; a --to receiver printed one.
    const code = cmd.insecure
      ? undefined
      : cmd.to
      ? pairingOf(cmd, rt, false)!.code
      : generateCode();
    if (live) {
      rt.output.out(
        `Measuring TCP, UDP and UDP --lossy${
          cmd.rates.length ? `, then ${cmd.rates.length} offered rates` : ""
        }` +
          ` against ${
            cmd.to
              ? `${cmd.to.host}:${cmd.to.port}`
              : "an embedded receiver on loopback"
          }, ${code ? "encrypted" : "not encrypted (--insecure)"}...\n`,
      );
    }
    const result = await runBench({
      ...(cmd.to ? { target: cmd.to } : {}),
      size: cmd.size,
      ...(cmd.file ? { file: cmd.file } : {}),
      ...(cmd.durationSeconds !== undefined
        ? { durationSeconds: cmd.durationSeconds }
        : {}),
      rates: cmd.rates,
      intervalSeconds: cmd.intervalSeconds,
      timeoutMs: cmd.timeoutMs,
      reverse: cmd.reverse,
      ...(code ? { code } : {}),
      signal: rt.signal,
      ...(live
        ? {
          onInterval: (label: string, iv: Interval) =>
            rt.output.out(renderInterval(label, iv)),
        }
        : {}),
    });
    if (cmd.json) {
      rt.output.out(JSON.stringify(benchJson(result), null, 2) + "\n");
    } else rt.output.out((live ? "\n" : "") + renderBenchTable(result));
    if (cmd.chart) {
      await Deno.writeTextFile(cmd.chart, renderBenchSvg(result)).catch(
        (error) => {
          throw new NetworkError(
            `Cannot write ${cmd.chart}: ${(error as Error).message}`,
            "io",
            { cause: error },
          );
        },
      );
      if (!cmd.json && !cmd.quiet) {
        rt.output.out(`Chart written to ${cmd.chart}\n`);
      }
    }
    if (rt.signal.aborted) return ExitCode.interrupted;
    return [...result.modes, ...result.sweep].some((r) => r.error)
      ? ExitCode.failure
      : ExitCode.ok;
  } catch (error) {
    reporter.error(error);
    return exitCodeOf(error);
  }
}

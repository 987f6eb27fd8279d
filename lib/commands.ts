/**
 * The commands: `receive` and `send` put together from the transport, the
 * session state machines, the progress bar and the reporter. They return
 * an exit code and never exit or touch the console themselves: main.ts
 * hands them a {@link Runtime}.
 *
 * @module
 */

import { resolve } from "node:path";
import type { ReceiveCommand, SendCommand } from "./cli.ts";
import {
  ExitCode,
  exitCodeOf,
  InterruptedError,
  UsageError,
} from "./errors.ts";
import type { ByteSink, ByteSource } from "./frames.ts";
import { Destination, type FileSink, StreamSink } from "./fsio.ts";
import { Link } from "./link.ts";
import { ProgressBar } from "./progress.ts";
import { checkRawSize, rawReceive, rawSend } from "./raw.ts";
import { receiveSession } from "./receive.ts";
import { type Output, Reporter } from "./report.ts";
import { sendSession } from "./send.ts";
import { TransferState } from "./session.ts";
import { collectSources } from "./sources.ts";
import { connect, lanAddresses, listen, peerName } from "./tcp.ts";

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

function accept(
  listener: Deno.Listener,
  signal: AbortSignal,
): Promise<Deno.Conn> {
  const onAbort = () => listener.close();
  signal.addEventListener("abort", onAbort, { once: true });
  return listener.accept().catch((error) => {
    if (signal.aborted) throw new InterruptedError();
    throw error;
  }).finally(() => signal.removeEventListener("abort", onAbort));
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
    if (cmd.from) {
      const conn = await connect(cmd.from);
      await serve(conn, cmd, base, dest, reporter, true);
      return ExitCode.ok;
    }
    const listener = listen(cmd.host, cmd.port);
    const addr = listener.addr as Deno.NetAddr;
    reporter.listening({
      host: addr.hostname,
      port: addr.port,
      addresses: lanAddresses(),
      command: cmd.raw
        ? "pasa send FILE --raw --to ADDR"
        : "pasa send PATH --to ADDR",
      role: "receiver",
      raw: cmd.raw,
    });
    if (!cmd.keep) {
      const conn = await accept(listener, rt.signal);
      listener.close();
      await serve(conn, cmd, base, dest, reporter, true);
      return ExitCode.ok;
    }
    return await serveMany(listener, cmd, base, dest, reporter);
  } catch (error) {
    reporter.error(error);
    return exitCodeOf(error);
  }
}

/** --keep: every connection is served on its own; one failing never stops the rest. */
async function serveMany(
  listener: Deno.Listener,
  cmd: ReceiveCommand,
  rt: Runtime,
  dest: Destination,
  reporter: Reporter,
): Promise<number> {
  const active = new Set<Promise<void>>();
  for (;;) {
    let conn: Deno.Conn;
    try {
      conn = await accept(listener, rt.signal);
    } catch (error) {
      if (!(error instanceof InterruptedError)) {
        reporter.error(error, "Cannot accept connections");
      }
      break;
    }
    const peer = peerName(conn);
    // No bar here: concurrent transfers would fight over one terminal line.
    const task = serve(conn, cmd, rt, dest, reporter, false)
      .catch((error) => reporter.error(error, `Transfer from ${peer} failed`))
      .finally(() => active.delete(task));
    active.add(task);
  }
  const interrupted = active.size > 0;
  await Promise.all(active);
  return interrupted ? ExitCode.interrupted : ExitCode.ok;
}

/** One receiving connection, start to end. Throws on failure. */
async function serve(
  conn: Deno.Conn,
  cmd: ReceiveCommand,
  rt: Runtime,
  dest: Destination,
  reporter: Reporter,
  withBar: boolean,
): Promise<void> {
  setNoDelay(conn);
  const peer = peerName(conn);
  using link = new Link(conn, { timeoutMs: cmd.timeoutMs, signal: rt.signal });
  const state = new TransferState();
  const { bar, output } = progressFor(rt, cmd.quiet || !withBar, state);
  const say = bar
    ? new Reporter(output, { json: cmd.json, quiet: cmd.quiet })
    : reporter;
  say.connected(peer, cmd.from === undefined);
  bar?.start();
  try {
    if (cmd.raw) {
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
      return;
    }
    const result = await receiveSession(link, dest, {
      state,
      peer,
      ...(cmd.stdout ? { stdout: new StreamSink(rt.stdout) } : {}),
      onManifest: (entries) =>
        say.manifest(
          state.files,
          entries.length - state.files,
          state.totalBytes,
        ),
      onFile: (file) => say.file(file),
    });
    bar?.stop();
    say.summary(result);
  } finally {
    bar?.stop();
  }
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
          : "pasa receive --from ADDR",
        role: "sender",
        raw: cmd.raw,
      });
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
          const result = await rawSend(
            link,
            file,
            only.path,
            only.size!,
            state,
          );
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
        onAccepted: () => say.manifest(state.files, dirs, state.totalBytes),
        onFile: (file) => say.file(file),
      });
      bar?.stop();
      say.summary(result);
      return ExitCode.ok;
    } finally {
      bar?.stop();
    }
  } catch (error) {
    reporter.error(error);
    return exitCodeOf(error);
  }
}

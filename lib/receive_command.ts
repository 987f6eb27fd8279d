/**
 * `pasa receive`: a listening receiver (one transfer, or `--keep`) or one
 * that connects out (`--from`), put together from the transport, the
 * admission pool, the session state machine, the progress bar and the
 * reporter. It returns an exit code and never exits or touches the console.
 *
 * @module
 */

import { resolve } from "node:path";
import {
  Admission,
  LogLimiter,
  ManifestBudget,
  type Ticket,
} from "./admission.ts";
import { reverseServer } from "./bench.ts";
import { failedPairing } from "./pairings.ts";
import { ProgressTicker } from "./progress_events.ts";
import type { ReceiveCommand } from "./cli.ts";
import {
  AuthError,
  ExitCode,
  exitCodeOf,
  InterruptedError,
  RefusedError,
} from "./errors.ts";
import { Destination, type FileSink, StreamSink } from "./fsio.ts";
import { Scratch } from "./scratch.ts";
import { SenderTokens } from "./sender_tokens.ts";
import { Link } from "./link.ts";
import { rawReceive } from "./raw.ts";
import { type ReceiveOptions, receiveSession } from "./receive.ts";
import { fileLister, plural, Reporter } from "./report.ts";
import { formatBytes, formatList } from "./units.ts";
import {
  accept,
  INSECURE_WARNING,
  pairingOf,
  progressFor,
  type Runtime,
  securityHint,
  setNoDelay,
} from "./runtime.ts";
import { LOCKOUT_FAILURES, type Pairing, PairingGate } from "./secure.ts";
import { refuseConnection, TransferState } from "./session.ts";
import {
  connect,
  formatAddress,
  listen,
  peerName,
  reachableAddresses,
} from "./tcp.ts";
import { Announcer, discover, type Found, nameplateOf } from "./discovery.ts";
import { UdpEndpoint } from "./udp_receive.ts";

/** A peer's address without its port: what limits and logs count by. */
function addressOf(conn: Deno.Conn): string {
  return (conn.remoteAddr as Deno.NetAddr).hostname;
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
    const pairing = pairingOf(cmd, rt, cmd.from === undefined);
    // After the listening line, which scripts read first.
    const warnInsecure = () =>
      cmd.insecure && reporter.warning(INSECURE_WARNING);
    if (cmd.from) {
      if (!cmd.stdout) await dest.prepare();
      warnInsecure();
      const conn = await connect(cmd.from, {
        timeoutMs: cmd.timeoutMs,
        signal: rt.signal,
        onWaiting: (where) => reporter.connecting(where, cmd.timeoutMs),
      });
      return await serve(conn, cmd, base, dest, reporter, true, {
        pairing,
        outgoing: true,
      });
    }
    // The port first: a port in use leaves no output directory behind.
    const listener = listen(cmd.host, cmd.port);
    try {
      if (!cmd.stdout) await dest.prepare();
    } catch (error) {
      listener.close();
      throw error;
    }
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
    // Announced on the LAN, so that a sender needs only the code: not when
    // bound to one address, without a code, or when asked not to.
    const nameplate = pairing?.code ? nameplateOf(pairing.code) : null;
    const announce = nameplate !== null && !cmd.raw && cmd.host === undefined &&
      !cmd.noAnnounce && rt.env("PASA_DISCOVERY") !== "off";
    // A one-shot receiver also looks for a sender waiting with --listen
    // that announces the same code number, and calls it while it goes on
    // listening (not for UDP: datagrams come to a receiver's own port).
    const seeking = new AbortController();
    const seek = announce && !cmd.keep && !cmd.udp
      ? (called: ReadonlySet<string>) =>
        seekSender(nameplate!, called, seeking.signal, reporter)
      : undefined;
    reporter.listening({
      host: addr.hostname,
      port: addr.port,
      announced: announce,
      addresses: reachableAddresses(addr.hostname),
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
    const announcer = announce
      ? Announcer.start(
        {
          role: "receiver",
          nameplate: nameplate!,
          port: addr.port,
          udp: !!udp,
        },
        (why) =>
          reporter.warning(
            `Cannot announce this receiver on the network (${why}): the sender needs --to`,
          ),
      )
      : undefined;
    try {
      return await serveMany(listener, cmd, base, dest, reporter, {
        udp,
        pairing,
        // A one-shot receiver has found its sender: nobody else should
        // look, and it looks no more.
        ...(cmd.keep ? {} : {
          onPaired: () => {
            announcer?.stop();
            seeking.abort();
          },
        }),
        ...(seek ? { seek } : {}),
      });
    } finally {
      seeking.abort();
      announcer?.stop();
      await udp?.close();
    }
  } catch (error) {
    reporter.error(error);
    return exitCodeOf(error);
  }
}

/** Failed calls to senders heard announcing before a one-shot receiver calls no more. */
export const ANNOUNCED_TRIES = 3;

/**
 * Looks for a sender announcing `nameplate` (one waiting with `--listen`)
 * and not `called` yet, until `signal`: the one found, or nothing when two
 * or more announce it (trying them in turn would spend a pairing attempt
 * on the wrong one) or the look ends.
 */
async function seekSender(
  nameplate: string,
  called: ReadonlySet<string>,
  signal: AbortSignal,
  reporter: Reporter,
): Promise<Found | undefined> {
  for (;;) {
    let found: Found[];
    try {
      found = await discover(nameplate, {
        role: "sender",
        timeoutMs: Infinity,
        signal,
      });
    } catch {
      return undefined; // no multicast here: senders connect to this one
    }
    if (signal.aborted || found.length === 0) return undefined;
    const fresh = found.filter((f) =>
      !called.has(formatAddress(f.hostname, f.port))
    );
    if (fresh.length === 0) continue; // only those that failed already
    if (fresh.length > 1) {
      reporter.warning(
        `${fresh.length} senders on this network wait with code number ${nameplate} (${
          formatList(fresh.map((f) => formatAddress(f.hostname, f.port)))
        }): not guessing which; still waiting here (or give --from HOST[:PORT])`,
      );
      return undefined;
    }
    return fresh[0];
  }
}

/**
 * The question a one-shot receiver on a terminal asks before it takes a
 * transfer (as croc and magic-wormhole do); none with `--yes`, `--keep`
 * (a server), `--json`, `--stdout` (the terminal is the data's), or when
 * standard input is not a terminal. An empty answer is yes.
 */
function askFirst(
  cmd: ReceiveCommand,
  rt: Runtime,
): ((peer: string) => ReceiveOptions["confirm"]) | undefined {
  const ask = rt.ask;
  if (cmd.yes || cmd.keep || cmd.json || cmd.stdout || !ask) return;
  return (peer) => async (files, dirs, bytes) => {
    const what = [
      plural(files, "file"),
      ...(dirs > 0 ? [plural(dirs, "directory").replace("ys", "ies")] : []),
    ].join(" and ");
    const size = bytes === null ? "size not known" : formatBytes(bytes);
    const question = `Accept ${what} (${size}) from ${peer}? [Y/n]`;
    // The whole exchange has --timeout, however often it is asked again.
    const until = cmd.timeoutMs > 0
      ? performance.now() + cmd.timeoutMs
      : Infinity;
    for (let tries = 1;; tries++) {
      const answer = await answerWithin(
        ask(question),
        until,
        cmd.timeoutMs,
        rt.signal,
      ).catch((error) => {
        rt.output.out("\n"); // the question's line was left open
        throw error;
      });
      const verdict = answerOf(answer);
      if (verdict !== undefined) return verdict;
      if (tries === ASKS) return false;
      rt.output.out("Please answer y (or Enter) to accept, or n to decline\n");
    }
  };
}

/** How often an answer that is neither yes nor no is asked again. */
const ASKS = 3;

/**
 * The user's answer, or a refusal once `until` passes (`--timeout`; the
 * sender is told `declined`), or Ctrl-C.
 */
async function answerWithin(
  answer: Promise<string | null>,
  until: number,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<string | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort = () => {};
  try {
    return await Promise.race([
      answer,
      new Promise<never>((_, reject) => {
        if (until !== Infinity) {
          timer = setTimeout(() =>
            reject(
              new RefusedError(
                `The receiver's user did not answer within ${
                  timeoutMs / 1000
                } s (--timeout): the transfer is declined`,
                "declined",
              ),
            ), Math.max(0, until - performance.now()));
        }
        onAbort = () => reject(new InterruptedError());
        if (signal.aborted) onAbort();
        signal.addEventListener("abort", onAbort, { once: true });
      }),
    ]);
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", onAbort);
  }
}

/** Whether an answer to the question is yes: empty (Enter), y or yes. */
export function acceptsAnswer(answer: string | null): boolean {
  return answerOf(answer) === true;
}

/**
 * An answer to the question: yes (empty, y, yes), no (n, no, or the end of
 * input), or undefined for anything else (asked again).
 */
export function answerOf(answer: string | null): boolean | undefined {
  if (answer === null) return false;
  if (/^\s*(y|yes)?\s*$/i.test(answer)) return true;
  if (/^\s*(n|no)\s*$/i.test(answer)) return false;
  return undefined;
}

/** What a one-shot receiver answers `pasa bench`. */
const ONE_SHOT_BENCH =
  "This receiver takes one transfer and then ends, and a measurement is several: run pasa receive --keep --udp there for pasa bench";

/**
 * Whether a failed connection ends a one-shot receiver: once it paired, or
 * when its pairing failed (a wrong code). What fails before the pairing (a
 * stranger, another role or version, `--insecure` on one side: all said in
 * a hello anyone can send) is reported, and it goes on waiting.
 */
function endsOneShot(error: unknown, paired: boolean): boolean {
  return paired || failedPairing(error);
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
  const tokens = once ? undefined : new SenderTokens();
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
  /** Serves `conn` as any connection here: its failure ends a one-shot receiver only once it paired, or failed to pair (a listening one's). */
  const take = (
    conn: Deno.Conn,
    how: { outgoing?: boolean; pairing?: Pairing | undefined } = {},
  ) => {
    const peer = peerName(conn);
    const address = addressOf(conn);
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
        pairing: "pairing" in how ? how.pairing : pairing,
        ticket,
        busy: busyError,
        ...(how.outgoing ? { outgoing: true } : {}),
        ...(tokens ? { tokens } : {}),
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
        // A sender it heard announcing and called never ends it unpaired:
        // anyone can announce (PROTOCOL.md 12).
        if (once && (paired || !how.outgoing) && endsOneShot(error, paired)) {
          if (outcome === undefined) reporter.error(error);
          outcome ??= exitCodeOf(error);
        } else if (paired) {
          reporter.error(error, `Transfer from ${peer} failed`);
        } else {
          limited(
            address,
            (note) =>
              reporter.error(
                error,
                how.outgoing
                  ? `The sender announced at ${peer} did not pair${note}; still waiting here`
                  : `Connection from ${peer} failed${note}`,
              ),
          );
        }
      })
      .finally(() => {
        ticket.end();
        active.delete(task);
        if (outcome !== undefined) stop();
      });
    active.set(task, close);
    return task;
  };
  // Senders heard announcing the code's number (waiting with --listen):
  // called while this side goes on listening; whoever pairs first is the
  // transfer. Each such call is a guess at the code for whoever answers,
  // so only a few of them fail before it calls no more.
  if (serving.seek && pairing) {
    const called = new Set<string>();
    const guesses = new PairingGate(ANNOUNCED_TRIES);
    (async () => {
      while (outcome === undefined && !guesses.locked && !rt.signal.aborted) {
        const found = await serving.seek!(called);
        if (!found || outcome !== undefined || admission.transfers > 0) return;
        called.add(formatAddress(found.hostname, found.port));
        reporter.found(formatAddress(found.hostname, found.port));
        let conn: Deno.Conn;
        try {
          conn = await connect({ host: found.hostname, port: found.port }, {
            timeoutMs: cmd.timeoutMs,
            signal: rt.signal,
          });
        } catch (error) {
          reporter.error(error, "Cannot reach the sender heard announcing");
          continue;
        }
        if (outcome !== undefined) return conn.close();
        await take(conn, {
          outgoing: true,
          pairing: { ...pairing, initiator: true, gate: guesses },
        });
      }
    })();
  }
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
    take(conn);
  }
  // A one-shot receiver is done: strangers still waiting are let go.
  if (outcome !== undefined) {
    for (const close of active.values()) close();
  }
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
  /** Called when a peer paired: a one-shot receiver stops announcing itself. */
  onPaired?: () => void;
  /** This side connected (--from, or a sender it found): it expects a sender. */
  outgoing?: boolean;
  /**
   * Looks for a sender announcing the code's number, one not `called`
   * yet: a one-shot receiver calls it while it goes on listening.
   */
  seek?: (called: ReadonlySet<string>) => Promise<Found | undefined>;
  /** A --keep receiver's sessions by their sender's token (a retry takes over its own). */
  tokens?: SenderTokens;
}

/** Says a sender's group is still gathering, once per change in how many joined. */
function waitReporter(say: Reporter): (joined: number, of: number) => void {
  let said = "";
  return (joined, of) => {
    const now = `${joined}/${of}`;
    if (now !== said) say.groupWait(joined, of);
    said = now;
  };
}

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
  const ask = askFirst(cmd, rt);
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
  // A one-shot receiver's --json says where it is; --keep's transfers overlap.
  const ticker = cmd.json && withBar
    ? new ProgressTicker(state, (e) => reporter.progress(e))
    : undefined;
  const say = bar
    ? new Reporter(output, { json: cmd.json, quiet: cmd.quiet })
    : reporter;
  // Said once the peer paired: strangers are not transfers.
  const paired = () => {
    if (ticket && !ticket.paired()) {
      throw serving.busy?.() ?? new RefusedError("Receiver is busy", "busy");
    }
    say.connected(peer, !serving.outgoing);
    serving.onPaired?.();
    bar?.start();
    ticker?.start();
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
      // A measurement is several transfers: only a --keep receiver serves one.
      // So does one that connected out: it measures what the sender it
      // chose sends (pasa bench --receivers), and nothing is kept.
      ...(cmd.keep || serving.outgoing
        ? { scratch }
        : { noMeasurements: ONE_SHOT_BENCH }),
      // Only a listening receiver serves bench --reverse clients; one that
      // connected out (--from, or to a sender it found) expects a sender.
      ...(!serving.outgoing
        ? {
          reverse: reverseServer(
            link,
            (conn.remoteAddr as Deno.NetAddr).hostname,
          ),
        }
        : {}),
      ...(cmd.stdout ? { stdout: new StreamSink(rt.stdout) } : {}),
      ...(udp ? { udp } : {}),
      ...(cmd.onePort ? { udpLanes: 1 } : {}),
      // Connected out: a sender's group may be joined on this interface.
      ...(serving.outgoing
        ? { local: (conn.localAddr as Deno.NetAddr).hostname }
        : {}),
      onWait: waitReporter(say),
      // Only --json's summary lists every file: otherwise counts and totals.
      keepFiles: cmd.json,
      ...(ask ? { confirm: ask(peer), confirmTimeoutMs: cmd.timeoutMs } : {}),
      onHandshake: paired,
      ...(serving.budget ? { budget: serving.budget } : {}),
      ...(serving.tokens ? { tokens: serving.tokens } : {}),
      onTakeover: () => say.takeover(),
      onManifest: (entries) =>
        say.manifest(
          state.files,
          entries.length - state.files,
          state.totalBytes,
        ),
      onChecking: (name, bytes) => say.checking(name, bytes),
      onResumed: (name, offset, kept) => say.resumed(name, offset, kept),
      onKept: (name, bytes, size, group) => say.kept(name, bytes, size, group),
      onSkipped: (name) => say.skipped(name),
      onUnchanged: (files, bytes) => say.unchanged(files, bytes, "receiver"),
      onFile: fileLister(say, cmd.everyFile),
    });
    bar?.stop();
    say.summary({ ...result, encrypted: link.pairing !== undefined });
    return result.incomplete ? ExitCode.integrity : ExitCode.ok;
  } finally {
    bar?.stop();
    ticker?.stop();
    await scratch.close();
  }
}

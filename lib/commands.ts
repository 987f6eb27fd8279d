/**
 * The commands `send` and `bench`, and `receive` from receive_command.ts,
 * put together from the transport, the session state machines, the
 * progress bar and the reporter. They return an exit code and never exit
 * or touch the console themselves: main.ts hands them a {@link Runtime}.
 *
 * @module
 */

import { type Interval, runBench } from "./bench.ts";
import { ProgressTicker } from "./progress_events.ts";
import { cryptoCosts } from "./crypto_costs.ts";
import {
  benchCsv,
  benchJson,
  renderBenchSvg,
  renderBenchTable,
  renderInterval,
} from "./bench_report.ts";
import type { BenchCommand, SendCommand } from "./cli.ts";
import { generateCode } from "./codes.ts";
import {
  codeOf,
  ExitCode,
  exitCodeOf,
  InterruptedError,
  NetworkError,
  PasaError,
  UsageError,
} from "./errors.ts";
import type { FrameReader } from "./frames.ts";
import { Link } from "./link.ts";
import { formatList } from "./units.ts";
import { checkRawSize, rawSend } from "./raw.ts";
import { fileLister, Reporter } from "./report.ts";
import {
  accept,
  INSECURE_WARNING,
  pairingOf,
  progressFor,
  type Runtime,
  securityHint,
  setNoDelay,
} from "./runtime.ts";
import { type Pairing, PairingGate } from "./secure.ts";
import { sendSession } from "./send.ts";
import { TransferState } from "./session.ts";
import { type Source, SourceWalk } from "./sources.ts";
import { Pattern } from "./pattern.ts";
import { Payload } from "./payload.ts";
import {
  type Address,
  connect,
  formatAddress,
  isIpv6,
  isLoopback,
  listen,
  peerName,
  reachableAddresses,
} from "./tcp.ts";
import {
  Announcer,
  discover,
  DISCOVERY_TIMEOUT_MS,
  nameplateOf,
} from "./discovery.ts";
import { udpDefaults } from "./udp_sizing.ts";
import { takePairings } from "./pairings.ts";
import { LogLimiter } from "./admission.ts";
import { sendToGroup } from "./group_command.ts";
import type { UdpSendOptions } from "./udp_send.ts";

export { runReceive } from "./receive_command.ts";
export type { Runtime } from "./runtime.ts";

/**
 * UDP settings for a send: datagram size and starting rate follow the
 * target, the host and port the connection reached (`to`, when it names an
 * IPv6 link-local interface, which the connection's address leaves out).
 */
function udpOptions(
  cmd: SendCommand,
  remote: Deno.NetAddr,
  to: Address | undefined,
): UdpSendOptions {
  const hostname = to?.host.includes("%") ? to.host : remote.hostname;
  return {
    ...udpDefaults(
      isLoopback(remote.hostname),
      cmd.lossy,
      cmd.datagramSize,
      isIpv6(hostname),
    ),
    lossy: cmd.lossy,
    target: { hostname, port: remote.port },
    ...(cmd.rate !== undefined ? { rate: cmd.rate } : {}),
  };
}

/** 16 random bytes as 32 hex digits: one `pasa send`'s token (PROTOCOL.md 5.3). */
function randomToken(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(16)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
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
    // Checked now, walked once connected: the list of a large folder
    // leaves while it is being made. What is skipped is said as it is met.
    const sources = await SourceWalk.plan(
      cmd.paths,
      cmd.name,
      (w) => reporter.warning(w),
    );
    const only = sources.first.entry;
    if (cmd.raw) {
      if (!sources.singleFile || only.type !== "file") {
        throw new UsageError("--raw sends exactly one regular file");
      }
      checkRawSize(only.size, only.path);
    }
    // Standard input cannot be read twice: one attempt only.
    const fromStdin = sources.fromStdin;
    const attempts = fromStdin ? 1 : 1 + cmd.retry;
    // Asked once, before connecting: every retry pairs with the same code.
    const pairing = pairingOf(cmd, rt, cmd.listen, !fromStdin);
    if (cmd.insecure && !cmd.listen) reporter.warning(INSECURE_WARNING);
    if (cmd.receivers !== undefined) {
      return await sendToGroup(cmd, rt, sources, pairing, reporter);
    }
    // Every attempt names itself with this: a --keep receiver that still
    // holds an earlier attempt's session lets this one take it over.
    const token = randomToken();
    for (let attempt = 1;; attempt++) {
      try {
        return await sendOnce(cmd, rt, sources, pairing, token);
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
  sources: SourceWalk,
  pairing: Pairing | undefined,
  token: string,
): Promise<number> {
  const reporter = new Reporter(rt.output, {
    json: cmd.json,
    quiet: cmd.quiet,
  });
  const only = sources.first.entry;
  let conn: Deno.Conn;
  let to: Address | undefined;
  /** With --listen: the receiver's hellos (and pairing) already read here. */
  let reader: { link: Link; frames: FrameReader } | undefined;
  if (cmd.listen) {
    const listener = listen(cmd.host, cmd.port);
    const addr = listener.addr as Deno.NetAddr;
    // Announced, so that a receiver needs only the code (as a receiver is).
    const nameplate = pairing?.code ? nameplateOf(pairing.code) : null;
    const announce = nameplate !== null && !cmd.raw &&
      cmd.host === undefined && !cmd.noAnnounce &&
      rt.env("PASA_DISCOVERY") !== "off";
    reporter.listening({
      host: addr.hostname,
      port: addr.port,
      announced: announce,
      addresses: reachableAddresses(addr.hostname),
      command: cmd.raw
        ? `pasa receive --raw --name ${only!.path} --from ADDR`
        : `pasa receive --from ADDR${securityHint(pairing, cmd.raw)}`,
      role: "sender",
      raw: cmd.raw,
      code: pairing?.code ?? null,
    });
    if (cmd.insecure) reporter.warning(INSECURE_WARNING);
    const announcer = announce
      ? Announcer.start(
        { role: "sender", nameplate: nameplate!, port: addr.port, udp: false },
        (why) =>
          reporter.warning(
            `Cannot announce this sender on the network (${why}): the receiver needs --from`,
          ),
      )
      : undefined;
    try {
      // The classic format has no handshake: its first connection is it.
      if (cmd.raw) conn = await accept(listener, rt.signal);
      else {({ conn, reader } = await waitForReceiver(
          listener,
          cmd,
          rt,
          pairing,
          reporter,
        ));}
    } finally {
      announcer?.stop();
      listener.close();
    }
  } else {
    to = cmd.to ?? await findReceiver(pairing, rt, reporter);
    conn = await connect(to, {
      timeoutMs: cmd.timeoutMs,
      signal: rt.signal,
      onWaiting: (where) => reporter.connecting(where, cmd.timeoutMs),
    });
  }
  setNoDelay(conn);
  const peer = peerName(conn);
  using link = reader?.link ?? linkFor(conn, cmd, rt, pairing);
  const state = new TransferState();
  const { bar, output } = progressFor(rt, cmd.quiet, state);
  const say = new Reporter(output, { json: cmd.json, quiet: cmd.quiet });
  say.connected(peer, cmd.listen);
  bar?.start();
  const ticker = cmd.json
    ? new ProgressTicker(state, (e) => say.progress(e))
    : undefined;
  ticker?.start();
  try {
    if (cmd.raw && only?.type === "file") {
      const file = await Deno.open(sources.first.local!, { read: true });
      try {
        const result = await rawSend(link, file, only.path, only.size!, state);
        bar?.stop();
        say.raw(result, "sender");
      } finally {
        file.close();
      }
      return ExitCode.ok;
    }
    const result = await sendSession(link, sources, {
      token,
      ...(reader ? { handshaken: reader.frames } : {}),
      state,
      stdin: rt.stdin,
      peer,
      noResume: cmd.noResume,
      check: cmd.check,
      // Only --json's summary lists every file: otherwise counts and totals.
      keepFiles: cmd.json,
      ...(cmd.udp
        ? { udp: udpOptions(cmd, conn.remoteAddr as Deno.NetAddr, to) }
        : {}),
      onAccepted: () =>
        say.manifest(
          state.files,
          sources.sources.length - state.files,
          state.totalBytes,
        ),
      onChecking: (name, bytes) => say.checking(name, bytes),
      onResumed: (name, offset, kept) => say.resumed(name, offset, kept),
      onRestart: (name) => say.restart(name),
      onSkipped: (name) => say.skipped(name),
      onAsking: (timeoutMs) => say.asking(timeoutMs),
      onUnchanged: (files, bytes) => say.unchanged(files, bytes, "sender"),
      onFile: fileLister(say, cmd.everyFile),
    }).catch((error) => {
      // Cut in the middle of a file (Ctrl-C, the network): say how far it got.
      // (Interrupted here, or the receiver was.)
      if (retryable(error) || codeOf(error) === "interrupted") {
        bar?.stop();
        if (state.name !== "" && state.fileBytes > 0) {
          say.stopped(state.name, state.fileBytes, state.fileSize);
        }
      }
      throw error;
    });
    bar?.stop();
    say.summary({ ...result, encrypted: link.pairing !== undefined });
    return result.verified ? ExitCode.ok : ExitCode.integrity;
  } finally {
    bar?.stop();
    ticker?.stop();
  }
}

/** The session's link over `conn`: the send's time-out, Ctrl-C, and its pairing. */
function linkFor(
  conn: Deno.Conn,
  cmd: SendCommand,
  rt: Runtime,
  pairing: Pairing | undefined,
): Link {
  return new Link(conn, {
    timeoutMs: cmd.timeoutMs,
    signal: rt.signal,
    ...(pairing ? { pairing } : {}),
  });
}

/**
 * With --listen: the first connection that gets through the hellos and the
 * pairing (lib/pairings.ts: they pair side by side, strangers said and let
 * go, a few lines at a time), as a one-shot receiver does. Only a pairing
 * that failed (a wrong code) ends it: what fails before, in a hello anyone
 * can send, is said and the wait goes on.
 */
function waitForReceiver(
  listener: Deno.Listener,
  cmd: SendCommand,
  rt: Runtime,
  pairing: Pairing | undefined,
  reporter: Reporter,
): Promise<{ conn: Deno.Conn; reader: { link: Link; frames: FrameReader } }> {
  // One guess at the code, as a one-shot receiver gives: pairings run one
  // at a time, and the first wrong code ends the wait.
  const guarded = pairing && { ...pairing, gate: new PairingGate(1) };
  const strangers = new LogLimiter();
  return new Promise((resolve, reject) => {
    let over = false;
    const end = (then: () => void) => {
      if (over) return;
      over = true;
      stop();
      then();
    };
    const stop = takePairings(
      listener,
      { timeoutMs: cmd.timeoutMs, rt, pairing: guarded },
      {
        paired: (p) => end(() => resolve({ conn: p.conn, reader: p })),
        failed: (p, error, refused) => {
          if (rt.signal.aborted) return end(() => reject(error));
          if (refused) return;
          // Strangers are said a few at a time, however many come.
          const { show, hidden } = strangers.allow(
            p.peer.replace(/:\d+$/, ""),
            performance.now(),
          );
          if (!show) return;
          reporter.warning(
            `Connection from ${p.peer} failed before pairing: ${
              (error as Error).message
            }; still waiting for the receiver${
              hidden > 0 ? ` (${hidden} more from there were not shown)` : ""
            }`,
          );
        },
        closed: (_, error, refused) => {
          if (refused) end(() => reject(error));
        },
        stopped: (error) => end(() => reject(error)),
      },
    );
  });
}

/**
 * The receiver holding this code, found on the local network by the
 * code's number (lib/discovery.ts). Fails, saying what to do instead, when
 * none or several answer.
 */
async function findReceiver(
  pairing: Pairing | undefined,
  rt: Runtime,
  reporter: Reporter,
): Promise<Address> {
  const code = pairing?.code ?? "";
  const nameplate = nameplateOf(code);
  if (nameplate === null) {
    throw new UsageError(
      `Where to? The code ${code} has no number in front to look for on this network: give --to HOST[:PORT]`,
    );
  }
  if (rt.env("PASA_DISCOVERY") === "off") {
    throw new UsageError(
      "Where to? Looking for receivers is off here (PASA_DISCOVERY=off): give --to HOST[:PORT]",
    );
  }
  reporter.looking(nameplate, DISCOVERY_TIMEOUT_MS);
  const found = await discover(nameplate, { signal: rt.signal });
  if (rt.signal.aborted) {
    throw new InterruptedError("Interrupted while looking");
  }
  if (found.length === 0) {
    throw new NetworkError(
      `No receiver with code ${nameplate}-... answered on this network within ${
        DISCOVERY_TIMEOUT_MS / 1000
      } s. Multicast may be filtered here, or the receiver is on another network or runs with --host or --no-announce: give its address with --to HOST[:PORT] (the receiver prints it)`,
      "discovery",
    );
  }
  if (found.length > 1) {
    throw new NetworkError(
      `${found.length} receivers on this network use code number ${nameplate} (${
        formatList(found.map((f) => formatAddress(f.hostname, f.port)))
      }): give the right one with --to HOST[:PORT], so that no wrong pairing attempt is spent`,
      "discovery",
    );
  }
  return { host: found[0]!.hostname, port: found[0]!.port };
}

/**
 * `pasa bench --receivers N`: a generated payload sent once to a group, as
 * `send --listen --receivers N` sends files; each receiver compares it
 * where it lands and keeps nothing. The group's lines say each receiver's
 * goodput and loss, and the total.
 */
function benchGroup(
  cmd: BenchCommand,
  rt: Runtime,
  reporter: Reporter,
): Promise<number> {
  const pattern = Pattern.random();
  const source: Source = {
    entry: { path: "pasa-bench.bin", type: "file", size: cmd.size },
    input: () => new Payload(cmd.size, pattern),
  };
  const send: SendCommand = {
    kind: "send",
    paths: [],
    raw: false,
    insecure: cmd.insecure,
    ...(cmd.code !== undefined ? { code: cmd.code } : {}),
    timeoutMs: cmd.timeoutMs,
    json: cmd.json,
    quiet: cmd.quiet,
    everyFile: false,
    listen: true,
    noAnnounce: false,
    port: cmd.port,
    udp: true,
    lossy: false,
    noResume: true,
    check: false,
    retry: 0,
    receivers: cmd.receivers!,
    multicast: cmd.multicast,
    ...(cmd.waitSeconds !== undefined ? { waitSeconds: cmd.waitSeconds } : {}),
    ...(cmd.datagramSize !== undefined
      ? { datagramSize: cmd.datagramSize }
      : {}),
  };
  const payload = {
    sources: [source],
    async *[Symbol.asyncIterator]() {
      yield source;
    },
  };
  return sendToGroup(
    send,
    rt,
    payload,
    pairingOf(cmd, rt, true),
    reporter,
    pattern,
  );
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
  const live = !cmd.json && !cmd.csv && !cmd.quiet;
  try {
    if (cmd.receivers !== undefined) return await benchGroup(cmd, rt, reporter);
    if (cmd.file) {
      await Deno.stat(cmd.file).catch(() => {
        throw new UsageError(`Cannot measure ${cmd.file}: no such file`);
      });
    }
    // A --to receiver printed a code; the embedded one shares a made-up code
    // when asked to encrypt (on loopback nothing crosses a network).
    const code = cmd.insecure
      ? undefined
      : cmd.to
      ? pairingOf(cmd, rt, false)!.code
      : cmd.encrypt
      ? generateCode()
      : undefined;
    if (live) {
      rt.output.out(
        `Measuring TCP, UDP and UDP --lossy${
          cmd.rates.length ? `, then ${cmd.rates.length} offered rates` : ""
        }` +
          ` against ${
            cmd.to
              ? `${cmd.to.host}:${cmd.to.port}`
              : "an embedded receiver on loopback"
          }, ${
            code
              ? "encrypted"
              : cmd.insecure
              ? "not encrypted (--insecure)"
              : "not encrypted (--encrypt to include it)"
          }...\n`,
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
      ...(cmd.link !== undefined ? { linkBitsPerSecond: cmd.link } : {}),
      runs: cmd.runs,
      parallel: cmd.parallel,
      ...(cmd.datagramSize !== undefined
        ? { datagramSize: cmd.datagramSize }
        : {}),
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
    if (cmd.cost) result.cost = cryptoCosts();
    if (cmd.csv) rt.output.out(benchCsv(result));
    else if (cmd.json) {
      rt.output.out(JSON.stringify(benchJson(result), null, 2) + "\n");
    } else rt.output.out((live ? "\n" : "") + renderBenchTable(result));
    if (cmd.chart) {
      // The SVG, and a PNG of it beside (for what takes no SVG).
      const svg = renderBenchSvg(result);
      const png = cmd.chart.replace(/\.svg$/i, "") + ".png";
      const write = (path: string, data: string | Uint8Array) =>
        (typeof data === "string"
          ? Deno.writeTextFile(path, data)
          : Deno.writeFile(path, data)).catch((error) => {
            throw new NetworkError(
              `Cannot write ${path}: ${(error as Error).message}`,
              "io",
              { cause: error },
            );
          });
      await write(cmd.chart, svg);
      const { svgToPng } = await import("./chart_png.ts");
      await write(png, await svgToPng(svg));
      if (!cmd.json && !cmd.quiet) {
        rt.output.out(`Chart written to ${cmd.chart} and ${png}\n`);
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

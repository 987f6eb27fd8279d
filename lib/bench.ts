/**
 * `pasa bench`: TCP against UDP (reliable and `--lossy`) in one run, on a
 * payload generated in memory or on a real file, against an embedded
 * receiver on loopback or a `pasa receive --keep` elsewhere. Returns data;
 * bench_report.ts renders it.
 *
 * @module
 */

import { basename } from "node:path";
import process from "node:process";
import { codeOf, ProtocolError } from "./errors.ts";
import { FrameReader, writeControl } from "./frames.ts";
import { MEASUREMENT_MAX, Scratch } from "./scratch.ts";
import { Link } from "./link.ts";
import { Payload } from "./payload.ts";
import { Pattern } from "./pattern.ts";
import type { CryptoCosts } from "./crypto_costs.ts";
import type { BenchRequest } from "./protocol.ts";
import { receiveSession } from "./receive.ts";
import { sendSession } from "./send.ts";
import { handshake, type TransferResult, TransferState } from "./session.ts";
import type { Source } from "./sources.ts";
import {
  type Address,
  connect,
  formatAddress,
  isIpv6,
  isLoopback,
} from "./tcp.ts";
import {
  DATAGRAM_SIZE_MAX,
  DATAGRAM_SIZE_MIN,
  DATAGRAM_SIZE_NETWORK,
  DATAGRAM_SIZE_NETWORK_V6,
  formatBits,
} from "./udp.ts";
import { UdpEndpoint } from "./udp_receive.ts";
import { udpDefaults } from "./udp_sizing.ts";
import { formatBytes, rate } from "./units.ts";
import { IntervalRecorder } from "./intervals.ts";
import { PASA_VERSION } from "./version.ts";
import { countersDelta, readNetCounters } from "./net_counters.ts";

/** The three ways of moving data a bench compares. */
export type BenchMode = "tcp" | "udp" | "udp-lossy";

export type { Interval } from "./intervals.ts";
import type { Interval } from "./intervals.ts";

/** One measured run. UDP-only figures are null for TCP. */
export interface ModeResult {
  mode: BenchMode;
  /** The fixed rate offered (a sweep's target, bit/s), or null when adaptive. */
  offeredRate: number | null;
  /** Which round of `--runs` (from 1); null when there is one. */
  round: number | null;
  /** Connections at once (TCP with `--parallel`; 1 otherwise). */
  streams: number;
  /** Bytes that arrived (unique). */
  bytes: number;
  /** From the first body byte to the end: what the rates are over. */
  seconds: number;
  /** Before that: connecting, pairing, the list of files. */
  setupSeconds: number;
  /** Goodput: bytes that arrived per second. */
  bytesPerSecond: number;
  bitsPerSecond: number;
  /**
   * UDP: what the sender really sent, bit/s, datagrams with their headers
   * and resends, from its first datagram to its last. Null for TCP.
   */
  sentBitsPerSecond: number | null;
  /** A sweep point: whether the sender sent at least 95% of `offeredRate`; null otherwise. */
  reachedOffered: boolean | null;
  /**
   * This process's CPU over the run (user + system, all its threads), in
   * percent of one core: the sender, or with `--reverse` the receiver; on
   * loopback the embedded receiver too. At 90 and over, a TCP run was bound
   * by this machine's CPU rather than by the network (a UDP sender's pacer
   * yields rather than sleeps under 2 ms, so its CPU is always busy).
   */
  localCpuPercent: number | null;
  firstPassLossPercent: number | null;
  outOfOrder: number | null;
  retransmittedBytes: number | null;
  jitterMs: number | null;
  /**
   * UDP: datagrams the receiving host's kernel dropped during the run
   * because a socket buffer was full (Linux `RcvbufErrors`, the whole
   * host's): loss at the socket, not on the link. Null where not told.
   */
  kernelDrops: number | null;
  /**
   * TCP: segments this host sent again during the run (Linux
   * `RetransSegs`, the whole host's), when this side sends. Null where
   * not told. (Round-trip times are not: Deno gives no `TCP_INFO`.)
   */
  tcpRetransmits: number | null;
  /** Every byte checked: against the sender's SHA-256, or compared with the generated pattern. */
  verified: boolean;
  /** How: `pattern` (each byte compared where it landed), `sha256`, or null (failed before). */
  check: "pattern" | "sha256" | null;
  intervals: Interval[];
  /** Why the run failed, if it did. */
  error?: string;
  /** That error's code (PROTOCOL.md section 7), e.g. `bench` when the receiver takes no measurements. */
  errorCode?: string;
}

/** A whole bench, in the spirit of iperf3's start / intervals / end. */
export interface BenchResult {
  start: {
    version: string;
    timestamp: string;
    target: string;
    embedded: boolean;
    /** The receiver sent and pasa bench received. */
    reverse: boolean;
    /** Whether the runs were paired and encrypted (not --insecure). */
    encrypted: boolean;
    /** `memory` for a generated payload (the network path), `file` for --file (disk included). */
    payload: "memory" | "file";
    file: string | null;
    size: number | null;
    durationSeconds: number | null;
    intervalSeconds: number;
    /** UDP slots: bytes of a one-slot datagram, and the most a reliable run's datagram carries (`--lossy`: one). */
    datagramSize: number;
    slotsPerDatagram: number;
    /** The link's rate (bit/s) the user gave with `--link`, or null: a reference, not a measurement. */
    linkBitsPerSecond: number | null;
  };
  modes: ModeResult[];
  sweep: ModeResult[];
  /** With `--cost`: core-seconds per GiB of SHA-256 and ChaCha20-Poly1305 here. */
  cost?: CryptoCosts;
}

/** Options of {@link runBench}. */
export interface BenchOptions {
  /** A `pasa receive --keep` to measure against; default: an embedded receiver on loopback. */
  target?: Address;
  /** Payload size in bytes. @default {256 MiB} */
  size?: number;
  /** Measure a real file instead of a generated payload. */
  file?: string;
  /** Run each mode for about this many seconds instead of a size. */
  durationSeconds?: number;
  /** UDP datagrams of exactly this size, one slot each (iperf3's `-l`). */
  datagramSize?: number;
  /** Run everything this many times, for a mean and a spread. @default {1} */
  runs?: number;
  /** TCP runs use this many connections at once (iperf3's -P). @default {1} */
  parallel?: number;
  /** Offered rates (bit/s) for a UDP --lossy sweep. */
  rates?: number[];
  /** The link's rate (bit/s) as the user gives it (`--link`): reported, never measured. */
  linkBitsPerSecond?: number;
  /** Reporting interval. @default {1} */
  intervalSeconds?: number;
  /** Measure the other direction: the receiver sends, we receive. */
  reverse?: boolean;
  /** Pair with this code and encrypt; without it, measure `--insecure`. */
  code?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called at the end of every interval of every run. */
  onInterval?: (mode: string, interval: Interval) => void;
  /** Called when a run ends. */
  onResult?: (result: ModeResult) => void;
}

/** A running embedded receiver. */
interface Embedded {
  port: number;
  stop(): void;
}

async function startEmbedded(code: string | null): Promise<Embedded> {
  const worker = new Worker(
    new URL("./bench_worker.ts", import.meta.url).href,
    { type: "module" },
  );
  worker.postMessage({ code });
  const reply = await new Promise<{ port?: number; error?: string }>(
    (resolve, reject) => {
      worker.onmessage = (e) => resolve(e.data);
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new Error(`Embedded receiver failed: ${e.message}`));
      };
    },
  );
  if (reply.port === undefined) {
    worker.terminate();
    throw new Error(reply.error ?? "Embedded receiver did not start");
  }
  return { port: reply.port, stop: () => worker.terminate() };
}

/** Label of a run, as the table and the chart show it. */
export function modeLabel(
  r: Pick<ModeResult, "mode" | "offeredRate"> & {
    round?: number | null;
    streams?: number;
  },
): string {
  const name = r.mode === "udp-lossy"
    ? "udp --lossy"
    : (r.streams ?? 1) > 1
    ? `${r.mode} -P ${r.streams}`
    : r.mode;
  const rated = r.offeredRate === null
    ? name
    : `${name} @ ${Math.round(r.offeredRate / 1e6)}M`;
  return r.round ? `${rated} #${r.round}` : rated;
}

/** Runs the three modes, then the sweep. */
export async function runBench(
  options: BenchOptions = {},
): Promise<BenchResult> {
  const intervalSeconds = options.intervalSeconds ?? 1;
  const embedded = options.target
    ? undefined
    : await startEmbedded(options.code ?? null);
  const target = options.target ?? { host: "127.0.0.1", port: embedded!.port };
  const fileSize = options.file ? (await Deno.stat(options.file)).size : null;
  const udp = udpDefaults(
    isLoopback(target.host),
    false,
    options.datagramSize,
    isIpv6(target.host),
  );
  const result: BenchResult = {
    start: {
      version: PASA_VERSION,
      timestamp: new Date().toISOString(),
      target: formatAddress(target.host, target.port),
      embedded: embedded !== undefined,
      reverse: options.reverse ?? false,
      encrypted: options.code !== undefined,
      payload: options.file ? "file" : "memory",
      file: options.file ?? null,
      size: fileSize ??
        (options.durationSeconds ? null : options.size ?? 256 * 1024 * 1024),
      durationSeconds: options.durationSeconds ?? null,
      intervalSeconds,
      datagramSize: udp.datagramSize,
      slotsPerDatagram: udp.slotsPerDatagram,
      linkBitsPerSecond: options.linkBitsPerSecond ?? null,
    },
    modes: [],
    sweep: [],
  };
  // With --duration, UDP sizes its payload from what UDP last achieved here.
  let udpRate: number | undefined;
  const rounds = Math.max(1, options.runs ?? 1);
  try {
    for (let k = 1; k <= rounds; k++) {
      const round = rounds > 1 ? k : null;
      const run = async (mode: BenchMode, offered: number | null) => {
        const r = await measure(
          mode,
          offered,
          round,
          target,
          options,
          intervalSeconds,
          fileSize,
          udpRate,
        );
        options.onResult?.(r);
        return r;
      };
      for (const mode of ["tcp", "udp", "udp-lossy"] as const) {
        if (options.signal?.aborted) break;
        const r = await run(mode, null);
        if (mode === "udp" && r.bitsPerSecond > 0) udpRate = r.bitsPerSecond;
        result.modes.push(r);
        // A receiver that takes no measurements takes none of the others either.
        if (r.errorCode === "bench") return result;
      }
      for (const offered of options.rates ?? []) {
        if (options.signal?.aborted) break;
        result.sweep.push(await run("udp-lossy", offered));
      }
    }
  } finally {
    embedded?.stop();
  }
  return result;
}

async function measure(
  mode: BenchMode,
  offered: number | null,
  round: number | null,
  target: Address,
  options: BenchOptions,
  intervalSeconds: number,
  fileSize: number | null,
  lastUdpRate: number | undefined,
): Promise<ModeResult> {
  const streams = mode === "tcp" ? Math.max(1, options.parallel ?? 1) : 1;
  const states = Array.from({ length: streams }, () => new TransferState());
  /** All streams together: bytes moved, and when the first body began. */
  const moved = () => states.reduce((n, s) => n + s.doneBytes, 0);
  const firstStart = () => {
    const begun = states.map((s) => s.startedAt).filter((t) => t >= 0);
    return begun.length ? Math.min(...begun) : -1;
  };
  const label = modeLabel({ mode, offeredRate: offered, round, streams });
  const duration = options.durationSeconds;
  // UDP needs a size in advance: with --duration, what the rate moves in that time.
  const udpRate = offered ?? lastUdpRate ?? 1e9;
  const size = fileSize ??
    (duration === undefined
      ? options.size ?? 256 * 1024 * 1024
      : mode === "tcp"
      ? null
      : Math.round((udpRate / 8) * duration));
  const countersBefore = mode === "tcp" && !options.reverse
    ? await readNetCounters()
    : null;
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const recorder = new IntervalRecorder(intervalSeconds);
  const sample = (last = false) => {
    const interval = (last ? recorder.finish : recorder.sample).call(
      recorder,
      performance.now(),
      moved(),
      firstStart(),
    );
    if (interval) options.onInterval?.(label, interval);
  };
  const timer = setInterval(sample, intervalSeconds * 1000);
  const base: ModeResult = {
    mode,
    offeredRate: offered,
    round,
    streams,
    bytes: 0,
    seconds: 0,
    setupSeconds: 0,
    bytesPerSecond: 0,
    bitsPerSecond: 0,
    sentBitsPerSecond: null,
    reachedOffered: null,
    localCpuPercent: null,
    firstPassLossPercent: null,
    outOfOrder: null,
    retransmittedBytes: null,
    jitterMs: null,
    kernelDrops: null,
    tcpRetransmits: null,
    verified: false,
    check: null,
    intervals: recorder.intervals,
  };
  // One connection, pairing on its own, moving `share` bytes into `state`.
  const oneStream = async (
    state: TransferState,
    share: number | null,
  ): Promise<{ sent: TransferResult; local: boolean }> => {
    const conn = await connect(target);
    using link = new Link(conn, {
      timeoutMs: options.timeoutMs ?? 60_000,
      ...signalOf(options),
      ...(options.code
        ? { pairing: { code: options.code, initiator: true } }
        : {}),
    });
    const deadline = share === null
      ? performance.now() + duration! * 1000
      : Infinity;
    // A generated payload can be checked where it lands, byte for byte,
    // from its seed: no SHA-256 and no storage on the receiver.
    const pattern = options.file ? undefined : Pattern.random();
    const source: Source = pattern
      ? {
        entry: { path: "pasa-bench.bin", type: "file", size: share },
        input: () => new Payload(share, pattern, deadline),
      }
      : {
        entry: { path: basename(options.file!), type: "file", size: share },
        local: options.file!,
      };
    const remote = conn.remoteAddr as Deno.NetAddr;
    const local = isLoopback(remote.hostname);
    const sent: TransferResult = options.reverse
      ? await receiveReverse(
        link,
        local,
        mode,
        offered,
        share,
        share === null ? duration! * 1000 : null,
        state,
        options.datagramSize,
      )
      : await sendSession(link, [source], {
        state,
        bench: true,
        ...(pattern ? { pattern } : {}),
        ...(mode === "tcp" ? {} : {
          udp: {
            // As `pasa send --udp` would: the bench measures what a transfer does.
            ...udpDefaults(
              local,
              mode === "udp-lossy",
              options.datagramSize,
              isIpv6(remote.hostname),
            ),
            lossy: mode === "udp-lossy",
            target: { hostname: remote.hostname, port: remote.port },
            ...(offered === null ? {} : { rate: offered }),
          },
        }),
      });
    return { sent, local };
  };
  try {
    // TCP in `streams` connections at once (iperf3's -P), the payload split
    // between them; every stream must finish before the run is reported.
    const shares = states.map((_, k) =>
      size === null
        ? null
        : Math.floor(size / streams) + (k < size % streams ? 1 : 0)
    );
    const settled = await Promise.allSettled(
      states.map((s, k) => oneStream(s, shares[k]!)),
    );
    const failure = settled.find((r) => r.status === "rejected");
    if (failure) throw (failure as PromiseRejectedResult).reason;
    const results = settled.map((r) =>
      (r as PromiseFulfilledResult<{ sent: TransferResult }>).value.sent
    );
    const sent = results[0]!;
    clearInterval(timer);
    sample(true);
    // Rates are over the data's time, as iperf3's: not connecting or pairing.
    const dataStart = firstStart() >= 0 ? firstStart() : started;
    const seconds = (performance.now() - dataStart) / 1000;
    const u = sent.udp;
    // Over UDP, what arrived: a lossy pass delivers (100 - loss)% of the bytes.
    const total = results.flatMap((r) => r.files).reduce(
      (n, f) => n + f.bytes,
      0,
    ) ||
      (u ? Math.round((size ?? 0) * (1 - u.firstPassLossPercent / 100)) : 0);
    const sentRate = u ? u.rateBitsPerSecond : null;
    const cpu = process.cpuUsage(cpuBefore);
    const wall = performance.now() - started;
    const kernel = countersDelta(
      countersBefore,
      countersBefore && await readNetCounters(),
    );
    return {
      ...base,
      bytes: total,
      seconds,
      setupSeconds: (dataStart - started) / 1000,
      bytesPerSecond: rate(total, seconds),
      bitsPerSecond: rate(total * 8, seconds),
      sentBitsPerSecond: sentRate,
      reachedOffered: offered === null || sentRate === null
        ? null
        : sentRate >= 0.95 * offered,
      localCpuPercent: Math.round((cpu.user + cpu.system) / 10 / wall),
      firstPassLossPercent: u?.firstPassLossPercent ?? null,
      outOfOrder: u?.outOfOrder ?? null,
      retransmittedBytes: u?.retransmittedBytes ?? null,
      jitterMs: u?.jitterMs ?? null,
      kernelDrops: u?.kernelDrops ?? null,
      tcpRetransmits: kernel?.tcpRetransSegs ?? null,
      verified: results.every((r) => r.verified),
      check: results.every((r) => r.patternChecked) ? "pattern" : "sha256",
    };
  } catch (error) {
    return {
      ...base,
      seconds: (performance.now() - started) / 1000,
      error: (error as Error).message,
      errorCode: codeOf(error),
    };
  } finally {
    clearInterval(timer);
  }
}

function signalOf(options: BenchOptions): { signal?: AbortSignal } {
  return options.signal ? { signal: options.signal } : {};
}

/** Largest payload a `--reverse` client may ask for: a measurement's most. */
export const REVERSE_MAX_SIZE = MEASUREMENT_MAX;
/** Longest a `--reverse` client may ask a receiver to send. */
export const REVERSE_MAX_MS = 300_000;
/** Slowest fixed rate a `--reverse` client may ask for: 100 kbit/s. */
export const REVERSE_MIN_RATE = 100_000;

/**
 * What a receiver does for a `pasa bench --reverse` client: send it the
 * generated payload it asked for (to `peerHost` for UDP), as a measurement.
 */
export function reverseServer(
  link: Link,
  peerHost: string,
): (request: BenchRequest, reader: FrameReader) => Promise<TransferResult> {
  return (request, reader) => {
    if (
      (request.size ?? 0) > REVERSE_MAX_SIZE ||
      (request.durationMs ?? 0) > REVERSE_MAX_MS
    ) {
      throw new ProtocolError(
        `A bench request may ask for at most ${
          formatBytes(REVERSE_MAX_SIZE)
        } or ${REVERSE_MAX_MS / 1000} s`,
        "bench",
      );
    }
    const u = request.udp;
    if (
      u &&
      (u.datagramSize < DATAGRAM_SIZE_MIN ||
        u.datagramSize > DATAGRAM_SIZE_MAX || u.port === 0)
    ) {
      throw new ProtocolError(
        "A bench request's UDP settings are out of range",
        "bench",
      );
    }
    // A rate that would hold a transfer slot for ever (0, 1 bit/s) or past
    // the longest measurement is refused before anything is sent.
    if (u?.rate !== undefined && u.rate !== null) {
      const seconds = request.size === null
        ? 0
        : request.size * 8 / Math.max(u.rate, 1);
      if (u.rate < REVERSE_MIN_RATE || seconds * 1000 > REVERSE_MAX_MS) {
        throw new ProtocolError(
          `A bench request's rate must be at least ${
            formatBits(REVERSE_MIN_RATE)
          }, and its size sent within ${REVERSE_MAX_MS / 1000} s at that rate`,
          "bench",
        );
      }
    }
    const deadline = request.size === null
      ? performance.now() + request.durationMs!
      : Infinity;
    const pattern = Pattern.random();
    const source: Source = {
      entry: { path: "pasa-bench.bin", type: "file", size: request.size },
      input: () => new Payload(request.size, pattern, deadline),
    };
    return sendSession(link, [source], {
      handshaken: reader,
      bench: true,
      pattern,
      ...(u
        ? {
          udp: {
            // The client's size, exact unless it is the usual slot.
            ...udpDefaults(
              isLoopback(peerHost),
              u.lossy,
              u.datagramSize === DATAGRAM_SIZE_NETWORK ||
                u.datagramSize === DATAGRAM_SIZE_NETWORK_V6
                ? undefined
                : u.datagramSize,
              isIpv6(peerHost),
            ),
            datagramSize: u.datagramSize,
            lossy: u.lossy,
            target: { hostname: peerHost, port: u.port },
            ...(u.rate === null ? {} : { rate: u.rate }),
            // A --keep receiver's thread serves its other transfers meanwhile.
            sharedThread: true,
          },
        }
        : {}),
    });
  };
}

/** The client end of `--reverse`: ask the receiver for the payload and receive it. */
async function receiveReverse(
  link: Link,
  local: boolean,
  mode: BenchMode,
  offered: number | null,
  size: number | null,
  durationMs: number | null,
  state: TransferState,
  datagramSize: number | undefined,
): Promise<TransferResult> {
  const reader = new FrameReader(link);
  const peer = await handshake(link, reader, "receiver", { sameRole: true });
  if (peer.role !== "receiver") {
    throw new ProtocolError(
      "--reverse measures against pasa receive --keep, which sends the payload back",
      "role",
    );
  }
  const endpoint = mode === "tcp" ? undefined : UdpEndpoint.bind(undefined, 0);
  const scratch = new Scratch();
  try {
    await writeControl(link, {
      type: "bench-request",
      size,
      durationMs,
      udp: endpoint
        ? {
          datagramSize: udpDefaults(local, mode === "udp-lossy", datagramSize)
            .datagramSize,
          lossy: mode === "udp-lossy",
          rate: offered,
          port: (endpoint.socket.addr as Deno.NetAddr).port,
        }
        : null,
    });
    return await receiveSession(link, scratch, {
      handshaken: reader,
      scratch,
      state,
      ...(endpoint ? { udp: endpoint } : {}),
    });
  } finally {
    await endpoint?.close();
    await scratch.close();
  }
}

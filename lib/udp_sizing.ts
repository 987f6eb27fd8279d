/**
 * How many slots each datagram carries. A datagram of one slot fits the
 * path's MTU; a datagram of several is cut into IP fragments by the
 * sender's kernel and put back together by the receiver's. Large datagrams
 * cost a fraction of the system calls and cipher set-ups per byte (on the
 * 1 Gbit/s lab: 0.5 of UFTP's speed in one-slot datagrams, 0.9 in 11-slot
 * ones; see bench/README.md), but where the path loses packets at random,
 * losing any fragment loses the whole datagram, and the incomplete ones
 * fill the receiver's reassembly memory (4 MiB on Linux, held 30 s) until
 * no large datagram gets through at all.
 *
 * So the sender measures which kind of path it has. Every eighth sequence
 * number (`sequence % 8 == 7`, a *probe*) carries a single slot, never
 * fragmented; the receiver counts the probes it got, and the sender judges
 * windows of 100 probes (800 datagrams; at a low rate, 25 once 300 ms
 * have passed). Loss that hits both alike leaves the size alone. Loss that
 * hits large datagrams far more than probes may be
 * lost fragments, or a receiver's full socket buffer (a small datagram still
 * fits where a large one does not). Sending slower cures the second, not the
 * first: so the sender halves its rate and holds it for one window (a
 * *test*). If large datagrams still lose as much, the path loses fragments,
 * and the rest of this transfer goes one slot per datagram; if not, the rate
 * climbs back as usual. A test costs a window at half the rate, and once one
 * has shown that fragments pass, a lopsided window is most likely the
 * receiver's buffer again: the next test waits for three in a row.
 *
 * @module
 */

import { DATAGRAM_SIZE_NETWORK, DATAGRAM_SIZE_NETWORK_V6 } from "./udp.ts";

/**
 * Slots in a large datagram to another machine: 11 slots of a 1,472-byte
 * datagram make about 15.6 KB, 11 IP fragments at MTU 1500. On the lab,
 * 16 KiB datagrams reached 0.9 of UFTP's speed and 32 KiB ones little more
 * (bench/README.md); fewer fragments lose less where fragments are lost.
 */
export const SLOTS_PER_DATAGRAM_NETWORK = 11;

/** Slots in a large datagram to this machine: about 31 KB (loopback has no 1,500-byte MTU). */
export const SLOTS_PER_DATAGRAM_LOOPBACK = 22;

/**
 * UDP ports of the receiver a sender asks to spread its datagrams over, the
 * main one included (lanes, lib/lanes.ts), where datagrams carry several
 * slots: each port's socket buffer adds to the others'.
 */
export const LANES_ASKED = 16;

/** How a UDP sender starts, by where it sends. */
export interface UdpDefaults {
  datagramSize: number;
  slotsPerDatagram: number;
  /** UDP ports of the receiver to spread datagrams over, the main one included. */
  lanes: number;
  /** Starting rate, bit/s. */
  initialRate: number;
}

/**
 * What `pasa send --udp` and `pasa bench` send with, so that a measurement
 * measures what a transfer does. Slots fit a 1,500-byte MTU (under IPv4, or,
 * with `ipv6`, under IPv6's longer header); datagrams carry
 * several while the path keeps IP fragments. A size given is exact, and a
 * `--lossy` measurement sends MTU-sized datagrams, as iperf3 does: its loss
 * is the loss of packets, not of 11-fragment datagrams.
 */
export function udpDefaults(
  loopback: boolean,
  lossy: boolean,
  datagramSize?: number,
  ipv6 = false,
): UdpDefaults {
  return {
    datagramSize: datagramSize ??
      (ipv6 ? DATAGRAM_SIZE_NETWORK_V6 : DATAGRAM_SIZE_NETWORK),
    slotsPerDatagram: datagramSize !== undefined || lossy
      ? 1
      : loopback
      ? SLOTS_PER_DATAGRAM_LOOPBACK
      : SLOTS_PER_DATAGRAM_NETWORK,
    // A --lossy measurement's datagrams meet one socket, as iperf3's do.
    lanes: datagramSize !== undefined || lossy ? 1 : LANES_ASKED,
    initialRate: loopback ? 1e9 : 5e8,
  };
}

/** Sequence numbers `s` with `s % PROBE_EVERY == PROBE_EVERY - 1` carry one slot. */
export const PROBE_EVERY = 8;

/** Probes a window must hold before its loss is compared (reports are pooled until then). */
const MIN_PROBES = 100;
/**
 * A window that has lasted this long closes with fewer probes (at least
 * {@link FEW_PROBES}): at a low rate, 100 probes can take seconds, and a
 * path that drops every large datagram must not be tested that long.
 */
const WINDOW_MS = 300;
const FEW_PROBES = 25;

/** Lopsided windows in a row that start a test once an earlier test cleared the path. */
const RETEST_AFTER = 3;

/** Whether sequence number `s` is a probe position. */
export function isProbe(s: number): boolean {
  return s % PROBE_EVERY === PROBE_EVERY - 1;
}

/** Probe positions among sequence numbers `0 .. expected - 1`. */
export function probesBefore(expected: number): number {
  return Math.floor(expected / PROBE_EVERY);
}

/** Loss of large datagrams and of probes over one stretch of reports. */
export interface SizingVerdict {
  largeLoss: number;
  probeLoss: number;
}

/**
 * What a report asks of the rate: `test` (halve it and hold it for a
 * window), `release` (the test cleared the path: adapt again), `single`
 * (the test confirmed fragment loss: adapt again, to one-slot datagrams).
 */
export type SizingStep = "test" | "release" | "single";

/**
 * Decides how many slots each datagram carries, from the receiver's
 * reports: `maxSlots` while the path keeps fragments, 1 for the rest of the
 * transfer once it has shown it loses them.
 */
export class DatagramSizing {
  readonly maxSlots: number;
  #single: boolean;
  #from = { received: 0, probes: 0, expected: 0 };
  /** When the current window began (its first report), or undefined. */
  #since: number | undefined;
  #testing = false;
  /** Whether a test has shown that this path keeps fragments. */
  #cleared = false;
  /** Lopsided windows in a row since the last test. */
  #lopsided = 0;
  /** The verdict that made it switch, for the summary. */
  verdict: SizingVerdict | undefined;

  constructor(maxSlots: number) {
    this.maxSlots = maxSlots;
    this.#single = maxSlots <= 1;
  }

  /** Whether it sends one slot per datagram (by choice or by necessity). */
  get single(): boolean {
    return this.#single;
  }

  /** Most slots the datagram with sequence number `s` may carry. */
  slotsAt(s: number): number {
    return this.#single || isProbe(s) ? 1 : this.maxSlots;
  }

  /** Whether a test window is under way (the rate is to stay held). */
  get testing(): boolean {
    return this.#testing;
  }

  /**
   * Takes a cumulative report (datagrams received, of which probes; highest
   * sequence seen + 1) at time `now` (milliseconds). Returns what the rate
   * should do, when this report closed a window that decides.
   */
  /**
   * Starts the window afresh from these counts, judging nothing: what was
   * lost before them says nothing of the path (a lane given up).
   */
  rebase(
    received: number,
    probes: number,
    expected: number,
    now: number = performance.now(),
  ): void {
    this.#from = { received, probes, expected };
    this.#since = now;
  }

  report(
    received: number,
    probes: number,
    expected: number,
    now: number = performance.now(),
  ): SizingStep | undefined {
    if (this.#single) return undefined;
    this.#since ??= now;
    const probesSent = probesBefore(expected) -
      probesBefore(this.#from.expected);
    const long = now - this.#since >= WINDOW_MS && probesSent >= FEW_PROBES;
    if (probesSent < MIN_PROBES && !long) return undefined;
    this.#since = now;
    const largeSent = expected - this.#from.expected - probesSent;
    const probesGot = probes - this.#from.probes;
    const largeGot = received - this.#from.received - probesGot;
    this.#from = { received, probes, expected };
    const loss = (got: number, sent: number) =>
      sent <= 0 ? 0 : Math.min(1, Math.max(0, 1 - got / sent));
    const v = {
      largeLoss: loss(largeGot, largeSent),
      probeLoss: loss(probesGot, probesSent),
    };
    // Large datagrams lose far more than probes (a datagram of k fragments
    // is lost about k times as often), beyond what counting noise explains.
    const lopsided = v.largeLoss > 0.08 &&
      v.largeLoss > 3 * v.probeLoss + 0.03;
    if (!this.#testing) {
      this.#lopsided = lopsided ? this.#lopsided + 1 : 0;
      this.#testing = this.#lopsided >= (this.#cleared ? RETEST_AFTER : 1);
      if (this.#testing) this.#lopsided = 0;
      return this.#testing ? "test" : undefined;
    }
    this.#testing = false;
    if (!lopsided) {
      this.#cleared = true;
      return "release";
    }
    this.#single = true;
    this.verdict = v;
    return "single";
  }
}

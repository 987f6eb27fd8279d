/**
 * UDP data mode, the pure parts: the datagram format, rate parsing, the
 * adaptive rate controller, RFC 3550 jitter, and the bitmap of received
 * slots with its missing ranges. Sockets live in udp_send.ts and
 * udp_receive.ts.
 *
 * A file of `size` bytes is cut into slots of `payload` bytes (the last may
 * be shorter); slot `k` covers bytes `[k * payload, min((k + 1) * payload, size))`
 * and travels as one datagram: a 40-byte header, then the slot's bytes.
 *
 * @module
 */

import { UsageError } from "./errors.ts";
import { MAX_MISSING_RANGES } from "./messages.ts";

/** Size of the datagram header. */
export const UDP_HEADER = 40;
/** Bytes of the authentication tag that ends a sealed datagram (records.ts). */
export const SEALED_TAG = 16;

/**
 * File bytes per datagram (a slot): the datagram size less the header, and
 * less the tag when the session is encrypted.
 */
export function slotPayload(datagramSize: number, sealed: boolean): number {
  return datagramSize - UDP_HEADER - (sealed ? SEALED_TAG : 0);
}
/** Datagram version byte. */
export const UDP_VERSION = 1;
/** Datagram type byte for file data: ASCII `D`. */
export const UDP_DATA = 0x44;
/** Default datagram size (header included): fits a 1500-byte MTU with IPv4 and UDP headers. */
export const DATAGRAM_SIZE_NETWORK = 1472;
/** The same under IPv6, whose header is 20 bytes longer. */
export const DATAGRAM_SIZE_NETWORK_V6 = 1452;
/** Default datagram size when the receiver is this machine (loopback MTU is 64 KiB). */
export const DATAGRAM_SIZE_LOOPBACK = 32768 + UDP_HEADER;
/** Largest datagram size accepted by `--datagram-size`. */
export const DATAGRAM_SIZE_MAX = 65_000;
/** Smallest datagram size accepted by `--datagram-size`. */
export const DATAGRAM_SIZE_MIN = 512;
/** Most missing ranges listed in one `udp-missing` frame (keeps it far under 64 KiB). */
export const RANGES_PER_FRAME = MAX_MISSING_RANGES;

/** The fields of a datagram header. */
export interface DatagramHeader {
  transfer: number;
  index: number;
  sequence: number;
  offset: number;
  /** Sender's clock when sent, in microseconds. */
  sentMicros: number;
}

function setU64(view: DataView, at: number, value: number): void {
  view.setUint32(at, Math.floor(value / 2 ** 32));
  view.setUint32(at + 4, value >>> 0);
}
function getU64(view: DataView, at: number): number {
  return view.getUint32(at) * 2 ** 32 + view.getUint32(at + 4);
}

/** Writes a header into the first {@link UDP_HEADER} bytes of `buf`. */
export function writeHeader(buf: Uint8Array, h: DatagramHeader): void {
  const view = new DataView(buf.buffer, buf.byteOffset, UDP_HEADER);
  view.setUint8(0, UDP_VERSION);
  view.setUint8(1, UDP_DATA);
  view.setUint16(2, UDP_HEADER);
  view.setUint32(4, h.transfer);
  view.setUint32(8, h.index);
  view.setUint32(12, 0);
  setU64(view, 16, h.sequence);
  setU64(view, 24, h.offset);
  setU64(view, 32, h.sentMicros);
}

/**
 * Reads a header, or returns why the datagram is malformed. Only the
 * datagram itself is judged here; whether its offset fits a file is the
 * receiver's business.
 */
export function readHeader(d: Uint8Array): DatagramHeader | string {
  if (d.length < UDP_HEADER) return `short datagram (${d.length} bytes)`;
  const view = new DataView(d.buffer, d.byteOffset, d.length);
  if (view.getUint8(0) !== UDP_VERSION) {
    return `unknown datagram version ${view.getUint8(0)}`;
  }
  if (view.getUint8(1) !== UDP_DATA) {
    return `unknown datagram type ${view.getUint8(1)}`;
  }
  if (view.getUint16(2) !== UDP_HEADER) {
    return `unexpected header length ${view.getUint16(2)}`;
  }
  return {
    transfer: view.getUint32(4),
    index: view.getUint32(8),
    sequence: getU64(view, 16),
    offset: getU64(view, 24),
    sentMicros: getU64(view, 32),
  };
}

const RATE_UNITS: Record<string, number> = {
  "": 1,
  k: 1e3,
  m: 1e6,
  g: 1e9,
  t: 1e12,
};

/**
 * Parses a rate in bits per second, as iperf3 does: `500M`, `2G`, `1.5g`,
 * `800k`, `100000` (a trailing `bit/s` or `bps` is allowed).
 */
export function parseRate(text: string, flag = "--rate"): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:bit\/s|bps|b)?\s*$/i.exec(text);
  const value = m ? Number(m[1]) * RATE_UNITS[m[2]!.toLowerCase()]! : NaN;
  if (!m || !Number.isFinite(value) || value < 1000) {
    throw new UsageError(
      `Invalid ${flag} ${
        JSON.stringify(text)
      }: expected bits per second of at least 1k, like 500M or 2G`,
    );
  }
  return value;
}

/** Formats bits per second: `850 Mbit/s`, `2.40 Gbit/s`. */
export function formatBits(bitsPerSecond: number): string {
  const v = Number.isFinite(bitsPerSecond) && bitsPerSecond > 0
    ? bitsPerSecond
    : 0;
  if (v >= 1e9) return `${(v / 1e9).toFixed(2)} Gbit/s`;
  if (v >= 1e6) return `${(v / 1e6).toFixed(0)} Mbit/s`;
  return `${(v / 1e3).toFixed(0)} kbit/s`;
}

/** Interval loss above which the rate backs off (repairs make a little loss cheap). */
export const BACK_OFF_ABOVE = 0.08;
/** Interval loss under which the rate probes upward. */
export const PROBE_BELOW = 0.02;

/** Options of {@link RateController}. */
export interface RateOptions {
  /** A fixed rate (`--rate`): never adapted. */
  fixed?: number;
  /** Where adaptation starts, bits per second. */
  initial: number;
  /** Floor of adaptation. @default {1 Mbit/s} */
  min?: number;
  /** Ceiling of adaptation. @default {40 Gbit/s} */
  max?: number;
  /**
   * Bytes of one datagram on the wire: with it, the rate never probes far
   * above what was really sent, and {@link RateController.settled} reports
   * what was sent, not what was allowed. @default {unknown: neither}
   */
  datagramBytes?: number;
}

/** How far above the rate really sent a probe may go (in slow start: {@link SLOW_START_HEADROOM}). */
const PROBE_HEADROOM = 1.25;
const SLOW_START_HEADROOM = 2;
/** Where a back-off lands: this fraction of what the path delivered. */
const UNDER_DELIVERED = 0.95;
/** Reports at the start whose loss does not end slow start. */
const WARM_UP_INTERVALS = 2;
/** Intervals over which the lowest loss is taken as the path's own (random) loss. */
const FLOOR_INTERVALS = 20;
/** Intervals needed before that floor is trusted (each after a back-off, if lossy). */
const FLOOR_AFTER = 3;
/** Back-offs in a row after which the loss that stayed is taken as the path's. */
const PERSISTENT_AFTER = 3;
/**
 * Past slow start, one lossy interval between clean ones is a hiccup of the
 * receiver (not scheduled for a millisecond, its socket buffer overflowed),
 * not a path too full: only loss this many times the threshold backs off
 * at once; less must come twice in a row.
 */
const SPIKE_TIMES = 3;

/**
 * Adapts the sending rate to the loss the receiver reports.
 *
 * It starts in slow start, doubling the rate every clean interval, so that
 * a 1 Gbit/s path is found in a few tenths of a second from 100 Mbit/s.
 * When more than 8% of an interval's datagrams are lost it backs off to
 * just under what the path delivered in that interval (when datagram sizes
 * are known; else by 25%) and leaves slow start; afterwards it probes
 * upward by 15% an interval while under 2% is lost, and holds in between.
 * Repairs make a few percent of loss cheap, while backing off at the first
 * lost datagram would leave most of a fast path unused. Past slow start, a
 * lossy interval after a clean one backs off only if it lost three times
 * the threshold: a receiver that was not scheduled for a millisecond loses
 * a burst whatever the rate, while a path that is too full loses in every
 * interval.
 *
 * Both thresholds sit above the path's own loss: the lowest loss of the
 * last 20 intervals (once there are 3), or loss that stayed through three
 * back-offs in a row. Loss that stays whatever the rate (a lossy radio
 * link, a bad cable, lost IP fragments) is not congestion, and slowing down
 * cannot cure it; only loss above that floor is taken as a sign of sending
 * too fast.
 */
export class RateController {
  rate: number;
  readonly fixed: boolean;
  #min: number;
  #max: number;
  /** Mean bytes of a datagram on the wire, when known (the sizing may change it). */
  datagramBytes: number | undefined;
  #lastReceived = 0;
  #lastExpected = 0;
  #lastAt: number | undefined;
  #history: number[] = [];
  #losses: number[] = [];
  #slowStart = true;
  /** While true, the rate stays put (a test of the path is under way). */
  held = false;
  /** Back-offs in a row, and the least loss among them. */
  #backOffs = 0;
  #leastInBackOffs = 1;
  /** Loss that stayed through {@link PERSISTENT_AFTER} back-offs: the path's, until loss falls under it. */
  #persistent: number | undefined;
  /** What the path carried when it last backed off (or the rate then). */
  #peak = 0;
  /** Whether the last interval lost more than the threshold. */
  #wasOver = false;

  constructor(options: RateOptions) {
    this.fixed = options.fixed !== undefined;
    this.rate = options.fixed ?? options.initial;
    this.#min = options.min ?? 1e6;
    this.#max = options.max ?? 40e9;
    this.datagramBytes = options.datagramBytes;
  }

  /** Whether it is still doubling (no congestion seen yet). */
  get slowStart(): boolean {
    return this.#slowStart;
  }

  /**
   * The first datagram went out at `at`: until a report counts one, the
   * next interval starts there, so that the first report with data can be
   * judged (and slow start grow) without waiting for a second one.
   */
  begin(at: number): void {
    if (this.#lastExpected === 0) this.#lastAt = at;
  }

  /**
   * Takes a report's counts as the start of the next interval, judging
   * nothing: its loss was not the path's (a lane given up).
   */
  rebase(
    received: number,
    expected: number,
    now: number = performance.now(),
  ): void {
    this.#lastReceived = received;
    this.#lastExpected = expected;
    this.#lastAt = now;
  }

  /**
   * Takes a cumulative report: datagrams received so far and datagrams the
   * receiver knows were sent (highest sequence seen + 1), at time `now`
   * (milliseconds). Returns the interval's loss fraction.
   */
  report(
    received: number,
    expected: number,
    now: number = performance.now(),
  ): number {
    const got = received - this.#lastReceived;
    const sent = expected - this.#lastExpected;
    const seconds = this.#lastAt === undefined
      ? 0
      : (now - this.#lastAt) / 1000;
    this.#lastReceived = received;
    this.#lastExpected = expected;
    this.#lastAt = now;
    if (sent <= 0) return 0;
    // What really went out in this interval, and what arrived, where it can
    // be known: a sender slower than its allowance (CPU, disk) sees no loss,
    // and must not take that as room to grow without bound.
    const bits = (n: number) =>
      this.datagramBytes !== undefined && seconds > 0
        ? (n * this.datagramBytes * 8) / seconds
        : undefined;
    const achieved = bits(sent);
    const delivered = bits(got);
    const loss = Math.min(1, Math.max(0, 1 - got / sent));
    this.#losses.push(loss);
    if (this.#losses.length > FLOOR_INTERVALS) this.#losses.shift();
    if (
      this.#persistent !== undefined && loss < this.#persistent - PROBE_BELOW
    ) {
      this.#persistent = undefined; // it fell: that loss was not the path's own
    }
    const floor = this.randomLoss;
    const over = loss > floor + BACK_OFF_ABOVE;
    const spike = over && !this.#slowStart && !this.#wasOver &&
      loss <= floor + SPIKE_TIMES * BACK_OFF_ABOVE;
    this.#wasOver = over;
    if (over) {
      this.#leastInBackOffs = Math.min(this.#leastInBackOffs, loss);
      if (++this.#backOffs >= PERSISTENT_AFTER) {
        // Halving the rate three times did not lower the loss under this:
        // slowing down cannot cure it (lost fragments, a bad link).
        this.#persistent = this.#leastInBackOffs;
        this.#backOffs = 0;
        this.#leastInBackOffs = 1;
      }
    } else {
      this.#backOffs = 0;
      this.#leastInBackOffs = 1;
    }
    if (!this.fixed && !this.held && !spike) {
      if (over) {
        // The first intervals hold the receiver's own start-up (opening the
        // file, compiling its hot path): loss there backs off, but is not
        // yet taken as the path's limit.
        if (this.#losses.length > WARM_UP_INTERVALS) this.#slowStart = false;
        // The path carried `delivered` (less its own random loss): go just
        // under that, but never lower than half in one step (one odd
        // interval). What it carried is also as high as climbing back goes
        // fast: an allowance far above it (slow start overshoots) is no aim.
        const path = delivered === undefined
          ? this.rate
          : Math.min(this.rate, delivered / (1 - floor));
        this.#peak = path;
        const carried = delivered === undefined
          ? this.rate * 0.75
          : path * UNDER_DELIVERED;
        this.rate = Math.max(
          this.#min,
          this.rate * 0.5,
          Math.min(this.rate * 0.9, carried),
        );
      } else if (
        loss < floor + PROBE_BELOW &&
        (achieved !== undefined || this.datagramBytes === undefined)
      ) {
        // (With sizes known, the first report has no interval to judge by: no growth.)
        const ceiling = achieved === undefined ? this.#max : Math.max(
          this.#min,
          achieved * (this.#slowStart ? SLOW_START_HEADROOM : PROBE_HEADROOM),
        );
        // Below the rate of the last back-off, climb back fast (half the
        // distance at least): one odd interval must not cost a second of
        // slow probing. Above it, probe by 15%. The ceiling stops growth; it
        // never lowers the rate (a sender idle between passes sent little,
        // but was not held back).
        const target = this.#slowStart
          ? this.rate * 2
          : this.rate < this.#peak
          ? Math.min(
            this.#peak,
            Math.max(this.rate * 1.15, (this.rate + this.#peak) / 2),
          )
          : this.rate * 1.15;
        this.rate = Math.max(
          this.rate,
          Math.min(this.#max, target, ceiling),
        );
      }
    }
    this.#history.push(
      achieved === undefined ? this.rate : Math.min(this.rate, achieved),
    );
    return loss;
  }

  /**
   * Starts adapting anew from `rate`, in slow start, forgetting the path's
   * loss: for when what is sent changes (datagrams of another size).
   */
  restart(rate: number): void {
    this.rate = Math.max(this.#min, Math.min(this.#max, rate));
    this.#slowStart = true;
    this.#losses = [];
    this.#persistent = undefined;
    this.#backOffs = 0;
    this.#leastInBackOffs = 1;
    this.#peak = 0;
    this.held = false;
  }

  /**
   * The loss the path shows whatever the rate: the lowest of the last 20
   * intervals' (0 until there are 3), or, once loss stayed through three
   * back-offs in a row, the least of it, until loss falls under that.
   */
  get randomLoss(): number {
    if (this.#persistent !== undefined) return this.#persistent;
    return this.#losses.length < FLOOR_AFTER ? 0 : Math.min(...this.#losses);
  }

  /**
   * The rate it settled on: the median of the last ten intervals' rates,
   * each no more than what was really sent in it (when that is known).
   */
  get settled(): number {
    const recent = this.#history.slice(-10).sort((a, b) => a - b);
    if (recent.length === 0) return this.rate;
    return recent[Math.floor(recent.length / 2)]!;
  }
}

/** Interarrival jitter as RFC 3550 section 6.4.1 defines it (and iperf3 reports). */
export class Jitter {
  #last: number | undefined;
  /** Current estimate, in the unit of the inputs (milliseconds here). */
  value = 0;

  /** Adds one datagram's transit time (arrival minus send time, any fixed offset). */
  add(transit: number): void {
    if (this.#last !== undefined) {
      const d = Math.abs(transit - this.#last);
      this.value += (d - this.value) / 16;
    }
    this.#last = transit;
  }
}

/** Slots per page of a {@link SlotMap}: 8 KiB of bits. */
const PAGE_SLOTS = 1 << 16;
/** A page every slot of which has arrived: its bits are let go. */
const FULL = "full";

/**
 * Which slots of a file have arrived, in pages of {@link PAGE_SLOTS} bits
 * made when a slot of theirs first arrives and let go once full: memory
 * grows with what is under way, not with the file (a file of 2^34 slots
 * takes no 2 GiB), and a scan of what is missing skips untouched and full
 * pages whole. Indices are plain numbers up to 2^53 (no 32-bit shifts).
 */
export class SlotMap {
  readonly slots: number;
  #pages = new Map<number, Uint8Array | typeof FULL>();
  /** Slots marked in each page not yet full. */
  #filled = new Map<number, number>();
  /** Slots marked so far. */
  count = 0;

  constructor(slots: number) {
    this.slots = slots;
  }

  /** Slots of page `p` (the last one may be short). */
  #pageSize(p: number): number {
    return Math.min(PAGE_SLOTS, this.slots - p * PAGE_SLOTS);
  }

  /** Marks a slot; false if it was already marked (a duplicate). */
  mark(slot: number): boolean {
    const p = Math.floor(slot / PAGE_SLOTS);
    let page = this.#pages.get(p);
    if (page === FULL) return false;
    if (page === undefined) {
      page = new Uint8Array(PAGE_SLOTS / 8);
      this.#pages.set(p, page);
    }
    const i = slot - p * PAGE_SLOTS;
    const bit = 1 << (i & 7);
    if (page[i >> 3]! & bit) return false;
    page[i >> 3]! |= bit;
    this.count++;
    const filled = (this.#filled.get(p) ?? 0) + 1;
    if (filled === this.#pageSize(p)) {
      this.#pages.set(p, FULL);
      this.#filled.delete(p);
    } else this.#filled.set(p, filled);
    return true;
  }

  has(slot: number): boolean {
    const p = Math.floor(slot / PAGE_SLOTS);
    const page = this.#pages.get(p);
    if (page === undefined) return false;
    if (page === FULL) return true;
    const i = slot - p * PAGE_SLOTS;
    return (page[i >> 3]! & (1 << (i & 7))) !== 0;
  }

  /**
   * Missing slots as `[first, count]` ranges, at most `limit` of them,
   * among slots `from` up to `to` (excluded; by default all of them).
   */
  missing(limit = Infinity, from = 0, to = this.slots): [number, number][] {
    const out: [number, number][] = [];
    const end = Math.min(to, this.slots);
    /** Adds slots `first` to `last` (excluded), merged with the range before. */
    const add = (first: number, last: number) => {
      const before = out.at(-1);
      if (before && before[0] + before[1] === first) before[1] += last - first;
      else out.push([first, last - first]);
    };
    let slot = Math.max(0, from);
    while (slot < end) {
      const p = Math.floor(slot / PAGE_SLOTS);
      const pageEnd = Math.min(end, (p + 1) * PAGE_SLOTS);
      const page = this.#pages.get(p);
      if (page === FULL) {
        slot = pageEnd;
        continue;
      }
      if (page === undefined) {
        // Nothing of this page came: all of it is missing, at once.
        if (out.length >= limit && out.at(-1)![0] + out.at(-1)![1] !== slot) {
          break;
        }
        add(slot, pageEnd);
        slot = pageEnd;
        continue;
      }
      while (slot < pageEnd) {
        const i = slot - p * PAGE_SLOTS;
        // Skip whole bytes of received slots quickly.
        if ((i & 7) === 0 && page[i >> 3] === 0xff) {
          slot += 8;
          continue;
        }
        if (page[i >> 3]! & (1 << (i & 7))) {
          slot++;
          continue;
        }
        const first = slot;
        while (slot < pageEnd) {
          const k = slot - p * PAGE_SLOTS;
          if (page[k >> 3]! & (1 << (k & 7))) break;
          slot++;
        }
        if (out.length >= limit && out.at(-1)![0] + out.at(-1)![1] !== first) {
          return out;
        }
        add(first, slot);
      }
    }
    return out;
  }
}

/** Number of slots of a file. */
export function slotCount(size: number, payload: number): number {
  return Math.ceil(size / payload);
}

/** Byte length of slot `k`. */
export function slotLength(size: number, payload: number, k: number): number {
  return Math.min(payload, size - k * payload);
}

/** Statistics of a UDP transfer, as reported in summaries and `--json`. */
export interface UdpStats {
  /** Bytes of a datagram of one slot, header (and tag) included. */
  datagramSize: number;
  /** Most slots one datagram could carry (agreed by both ends). */
  slotsPerDatagram: number;
  /** The sender saw large datagrams lost far more than single-slot ones, and sent one slot each from then on. */
  fragmentsLost: boolean;
  datagramsSent: number;
  datagramsReceived: number;
  firstPassLossPercent: number;
  outOfOrder: number;
  duplicates: number;
  malformed: number;
  /**
   * UDP datagrams the receiving host's kernel dropped while this transfer
   * ran because a socket buffer was full (Linux `RcvbufErrors`, for the
   * whole host); absent where the receiver cannot read it.
   */
  kernelDrops?: number;
  retransmittedBytes: number;
  repairRounds: number;
  jitterMs: number;
  rateBitsPerSecond: number;
  lossy: boolean;
  complete: boolean;
}

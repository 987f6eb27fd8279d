/**
 * The receiving end of UDP mode. One {@link UdpEndpoint} per receiver owns
 * the datagram socket (bound on the TCP port's number, all interfaces) and
 * hands each datagram, read into one reused buffer, to the transfer its id
 * names. A {@link UdpFileReceiver} writes each slot at its offset, coalescing
 * neighbours into runs of up to 1 MiB, and hashes the file in order as the
 * contiguous prefix grows; what arrived out of order is read back once.
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";
import {
  errorFromPeer,
  NetworkError,
  PasaError,
  ProtocolError,
} from "./errors.ts";
import type { FrameReader } from "./frames.ts";
import { displayName } from "./names.ts";
import type { Message, UdpPassEnd } from "./protocol.ts";
import type { TransferState } from "./session.ts";
import {
  type DatagramHeader,
  Jitter,
  RANGES_PER_FRAME,
  readHeader,
  slotCount,
  slotLength,
  SlotMap,
  UDP_HEADER,
  type UdpStats,
} from "./udp.ts";
import { isProbe } from "./udp_sizing.ts";

/** Where a file's slots land: the `.part` file, or a check against a pattern. */
export interface SlotFile {
  seekSync(position: number, whence: Deno.SeekMode): number;
  writeSync(bytes: Uint8Array): number;
  readSync(into: Uint8Array): number | null;
  /** Cuts the file at `length` (after a failed write, so that no torn slot is kept). */
  truncateSync?(length: number): void;
  /** Every byte is checked as it is written: nothing to read back and hash. */
  readonly checksInPlace?: boolean;
}

/** Something that takes datagrams addressed to one transfer id. */
export interface DatagramHandler {
  onDatagram(d: Uint8Array, arrivalMs: number): void;
}

/** The receiver's datagram socket and its dispatch by transfer id. */
export class UdpEndpoint {
  readonly socket: Deno.DatagramConn;
  #handlers = new Map<number, DatagramHandler>();
  #loop: Promise<void>;
  /** Datagrams no transfer could take: short, unknown version or id. */
  malformed = 0;
  /** Receive errors that did not close the socket. */
  errors = 0;
  /** Datagrams received on this socket, for every transfer. */
  received = 0;
  #closed = false;

  constructor(socket: Deno.DatagramConn) {
    this.socket = socket;
    this.#loop = this.#receive();
  }

  /** Binds UDP on `port` (all interfaces, IPv4 and IPv6, unless `host`). */
  static bind(host: string | undefined, port: number): UdpEndpoint {
    const hosts = host === undefined ? ["::", "0.0.0.0"] : [host];
    let last: unknown;
    for (const hostname of hosts) {
      try {
        return new UdpEndpoint(
          Deno.listenDatagram({ hostname, port, transport: "udp" }),
        );
      } catch (error) {
        last = error;
      }
    }
    const detail = last instanceof Error ? last.message : String(last);
    throw new NetworkError(
      `Cannot receive UDP on port ${port}: ${detail}`,
      "network",
      { cause: last },
    );
  }

  /**
   * Binds UDP on `port` of every IPv4 address, shared with other sockets
   * there (two receivers of one group on one host), to join a group on.
   */
  static forGroup(port: number): UdpEndpoint {
    try {
      return new UdpEndpoint(
        Deno.listenDatagram({
          hostname: "0.0.0.0",
          port,
          transport: "udp",
          reuseAddress: true,
        }),
      );
    } catch (error) {
      throw new NetworkError(
        `Cannot receive the group's datagrams on UDP port ${port}: ${
          (error as Error).message
        }`,
        "network",
        { cause: error },
      );
    }
  }

  async #receive(): Promise<void> {
    const buf = new Uint8Array(65_536);
    let failing = 0;
    for (;;) {
      let d: Uint8Array;
      try {
        [d] = await this.socket.receive(buf);
      } catch (error) {
        if (this.#closed || error instanceof Deno.errors.BadResource) return;
        // Anything else is about one datagram or an ICMP report (Windows
        // turns "port unreachable" into a receive error): keep serving.
        this.errors++;
        // Never spin on a socket that fails every time.
        if (++failing > 100) await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      failing = 0;
      this.received++;
      const arrival = performance.now();
      if (d.length < UDP_HEADER) {
        this.malformed++;
        continue;
      }
      const id = new DataView(d.buffer, d.byteOffset + 4, 4).getUint32(0);
      const handler = this.#handlers.get(id);
      if (handler) handler.onDatagram(d, arrival);
      else this.malformed++;
    }
  }

  /** A fresh transfer id, not in use on this endpoint. */
  newTransferId(): number {
    for (;;) {
      const id = crypto.getRandomValues(new Uint32Array(1))[0]!;
      if (id !== 0 && !this.#handlers.has(id)) return id;
    }
  }

  /** Routes datagrams carrying `id` to `handler` (or nowhere, with undefined). */
  route(id: number, handler: DatagramHandler | undefined): void {
    if (handler) this.#handlers.set(id, handler);
    else this.#handlers.delete(id);
  }

  close(): Promise<void> {
    this.#closed = true;
    try {
      this.socket.close();
    } catch {
      // already closed
    }
    return this.#loop;
  }
}

/** Counters of one UDP transfer on the receiving side. */
export class ReceiveCounters {
  received = 0;
  duplicates = 0;
  outOfOrder = 0;
  malformed = 0;
  highest = -1;
  /** Datagrams received at probe positions (see lib/udp_sizing.ts). */
  probes = 0;
  firstPassLost = 0;
  firstPassSlots = 0;
  repairRounds = 0;
  lastArrival = 0;
  jitter = new Jitter();
  /**
   * Datagrams of files this receiver takes as they are: a group's, sent
   * for the receivers that lack them. Counted as received, never stored.
   */
  passing = 0;
}

/** Counts a datagram of the transfer that arrived, whatever becomes of it. */
function countArrival(
  c: ReceiveCounters,
  h: DatagramHeader,
  arrivalMs: number,
): void {
  c.received++;
  if (isProbe(h.sequence)) c.probes++;
  c.lastArrival = arrivalMs;
  if (h.sequence < c.highest) c.outOfOrder++;
  else c.highest = h.sequence;
  c.jitter.add(arrivalMs - h.sentMicros / 1000);
}

/**
 * Takes a group's datagrams once this receiver has every file it needs
 * (the rest it has as they are): counted for its reports, never stored.
 */
export class PassingDatagrams implements DatagramHandler {
  #counters: ReceiveCounters;

  constructor(counters: ReceiveCounters) {
    this.#counters = counters;
  }

  onDatagram(d: Uint8Array, arrivalMs: number): void {
    const h = readHeader(d);
    if (typeof h === "string") {
      this.#counters.malformed++;
      return;
    }
    countArrival(this.#counters, h, arrivalMs);
    this.#counters.passing++;
  }
}

// Small enough that writing and hashing a run stalls the socket under 0.3 ms.
const RUN_SIZE = 256 * 1024;
/**
 * Bytes read back and hashed past the in-order prefix, at most, per run
 * written: four runs' worth, so that once a hole is filled during the pass
 * the hash gains on the data arriving, a millisecond or so at a time.
 */
const CATCH_UP_STEP = 4 * RUN_SIZE;

/** How a file is cut for UDP: its size, the slot size, and the most slots in one datagram. */
export interface SlotLayout {
  size: number;
  payload: number;
  perDatagram: number;
}

/** Receives one file's datagrams into an open `.part` file. */
export class UdpFileReceiver implements DatagramHandler {
  readonly map: SlotMap;
  readonly hash: Hash;
  /** Slots already here when it began (a resumed transfer's). */
  readonly keptSlots: number;
  #file: SlotFile;
  #size: number;
  #payload: number;
  #perDatagram: number;
  #index: number;
  #counters: ReceiveCounters;
  #state: TransferState;
  #run = new Uint8Array(RUN_SIZE);
  #runStart = 0;
  #runLength = 0;
  #hashed = 0;
  /** The slot after the furthest one any datagram carried. */
  #reach = 0;
  /** Holes before this slot were listed early already, these. */
  #askedTo = 0;
  #askedEarly: [number, number][] = [];
  #error: unknown;
  /** After a failed write: where the file was cut (what is below was written). */
  #cutAt = 0;
  /** Told of every run written, so that write-back can start during the pass. */
  onWritten: ((bytes: number) => void) | undefined;
  /** Earlier files this receiver took as they are (a group sends them for others). */
  asIs: ReadonlySet<number> | undefined;

  constructor(
    file: SlotFile,
    layout: SlotLayout,
    index: number,
    counters: ReceiveCounters,
    state: TransferState,
    start?: { offset: number; hash: Hash; ranges?: [number, number][] },
  ) {
    const { size, payload } = layout;
    this.#file = file;
    this.#size = size;
    this.#payload = payload;
    this.#perDatagram = layout.perDatagram;
    this.#index = index;
    this.#counters = counters;
    this.#state = state;
    this.map = new SlotMap(slotCount(size, payload));
    this.hash = start?.hash ?? createHash("sha256");
    if (start) {
      // A resumed prefix (whole slots, verified by both ends) is already in
      // place and hashed; the ranges past it are in place, hashed at the end.
      for (let slot = 0; slot * payload < start.offset; slot++) {
        this.map.mark(slot);
      }
      this.#hashed = start.offset;
      let kept = start.offset;
      for (const [from, length] of start.ranges ?? []) {
        for (let s = from / payload; s * payload < from + length; s++) {
          if (this.map.mark(s)) kept += slotLength(size, payload, s);
        }
      }
      state.fileBytes += kept;
      state.doneBytes += kept;
    }
    this.keptSlots = this.map.count;
  }

  /**
   * After a cut: writes what is pending, so that a later transfer can
   * resume every whole slot that arrived (the missing ones are holes, read
   * as zeros). Returns the bytes of those slots.
   */
  keepReceived(): number {
    this.flush();
    // A failed check (a measurement's pattern) keeps nothing: the caller
    // discards it. After a failed write (a full disk) the file was cut
    // where that write began: what is below is kept.
    if (this.#error instanceof PasaError) return 0;
    const end = this.#error === undefined ? this.#size : this.#cutAt;
    let bytes = 0;
    for (let slot = 0; slot * this.#payload < end; slot++) {
      const length = slotLength(this.#size, this.#payload, slot);
      if (slot * this.#payload + length > end) break;
      if (this.map.has(slot)) bytes += length;
    }
    return bytes;
  }

  onDatagram(d: Uint8Array, arrivalMs: number): void {
    const c = this.#counters;
    const h = readHeader(d);
    if (typeof h === "string") {
      c.malformed++;
      return;
    }
    if (h.index > this.#index) {
      c.malformed++; // the sender has not reached that file
      return;
    }
    if (h.index < this.#index) {
      // It arrived, and counts against loss; but it is a late repair of an
      // earlier file, or a group's copy of one this receiver already has.
      countArrival(c, h, arrivalMs);
      if (this.asIs?.has(h.index)) c.passing++;
      else c.duplicates++;
      return;
    }
    // A datagram carries `n` whole slots from `slot` on (only the file's
    // last slot may be short).
    const slot = h.offset / this.#payload;
    const length = d.length - UDP_HEADER;
    const n = Math.ceil(length / this.#payload);
    if (
      !Number.isInteger(slot) || n < 1 || n > this.#perDatagram ||
      slot + n > this.map.slots ||
      length !== Math.min(n * this.#payload, this.#size - h.offset)
    ) {
      c.malformed++;
      return;
    }
    countArrival(c, h, arrivalMs);
    if (this.#error !== undefined) return; // nothing more is written
    if (slot + n > this.#reach) this.#reach = slot + n;
    let fresh = 0;
    for (let k = 0; k < n; k++) {
      if (!this.map.mark(slot + k)) continue;
      const from = k * this.#payload;
      const bytes = d.subarray(
        UDP_HEADER + from,
        UDP_HEADER + Math.min(length, from + this.#payload),
      );
      fresh += bytes.length;
      this.#store(h.offset + from, bytes);
    }
    if (fresh === 0) {
      c.duplicates++;
      return;
    }
    this.#state.fileBytes += fresh;
    this.#state.doneBytes += fresh;
  }

  /** Appends to the current run when contiguous, else flushes and starts anew. */
  #store(offset: number, bytes: Uint8Array): void {
    if (this.#error !== undefined) return;
    const contiguous = this.#runLength > 0 &&
      offset === this.#runStart + this.#runLength;
    if (!contiguous || this.#runLength + bytes.length > RUN_SIZE) {
      // Slots from `offset` on are marked but not written yet.
      this.flush(offset);
      this.#runStart = offset;
    }
    this.#run.set(bytes, this.#runLength);
    this.#runLength += bytes.length;
  }

  /**
   * Writes the pending run at its offset; hashes it when it extends the
   * in-order prefix, and then as much of what arrived ahead of it as a
   * step allows (read back: datagrams that came out of order, over lanes).
   * `unwritten`: the offset from which slots marked received are not yet
   * in the file.
   */
  flush(unwritten = Infinity): void {
    if (this.#runLength === 0 || this.#error !== undefined) return;
    const run = this.#run.subarray(0, this.#runLength);
    try {
      this.#file.seekSync(this.#runStart, Deno.SeekMode.Start);
      for (let done = 0; done < run.length;) {
        done += this.#file.writeSync(run.subarray(done));
      }
      this.onWritten?.(run.length);
    } catch (error) {
      this.#error = error; // reported by the control loop, which can tell the sender
      this.#cut(this.#runStart);
    }
    if (this.#runStart === this.#hashed) {
      this.hash.update(run);
      this.#hashed += run.length;
    }
    this.#runLength = 0;
    this.#catchUp(unwritten);
  }

  /**
   * A write failed (a full disk, most often): the file is cut where it
   * began, so that a torn slot is never kept as if it had arrived, and no
   * more is written. Cutting frees space; it needs none.
   */
  #cut(at: number): void {
    this.#cutAt = at;
    try {
      this.#file.truncateSync?.(at);
    } catch {
      this.#cutAt = 0; // not cut: keep nothing of it
    }
  }

  /**
   * Hashes slots already in the file that directly follow the in-order
   * prefix, up to {@link CATCH_UP_STEP} bytes: one step per run written,
   * so that filling a hole never stops the socket's draining for long
   * (what is left is read back at the end, by {@link finishHash}).
   */
  #catchUp(unwritten: number): void {
    if (this.#file.checksInPlace || this.#error !== undefined) return;
    const payload = this.#payload;
    if (this.#hashed >= this.#size || this.#hashed % payload !== 0) return;
    let slot = this.#hashed / payload;
    let bytes = 0;
    while (
      slot < this.map.slots && this.map.has(slot) &&
      slot * payload < unwritten && bytes < CATCH_UP_STEP
    ) {
      bytes += slotLength(this.#size, payload, slot);
      slot++;
    }
    while (bytes > 0) {
      const into = this.#run.subarray(0, Math.min(bytes, this.#run.length));
      try {
        this.#file.seekSync(this.#hashed, Deno.SeekMode.Start);
        for (let done = 0; done < into.length;) {
          const n = this.#file.readSync(into.subarray(done));
          if (n === null || n === 0) return; // nothing hashed; finishHash reports it
          done += n;
        }
      } catch (error) {
        this.#error = error;
        return;
      }
      this.hash.update(into);
      this.#hashed += into.length;
      bytes -= into.length;
    }
  }

  /** The file's index in the manifest. */
  get index(): number {
    return this.#index;
  }

  /**
   * Holes that datagrams at least `margin` slots further on have passed,
   * each listed once (at most `limit` ranges): what a receiver asks for
   * during the pass (PROTOCOL.md 9.3, early repair). Datagrams over several
   * ports overtake one another by a few only.
   */
  earlyHoles(margin: number, limit: number): [number, number][] {
    const to = this.#reach - margin;
    if (to <= this.#askedTo) return [];
    const holes = this.map.missing(limit, this.#askedTo, to);
    const last = holes.at(-1);
    this.#askedTo = holes.length >= limit && last ? last[0] + last[1] : to;
    this.#askedEarly.push(...holes);
    return holes;
  }

  /** Of the slots asked for during the pass, those that have arrived since. */
  filledEarly(): number {
    let filled = 0;
    for (const [first, count] of this.#askedEarly) {
      for (let s = first; s < first + count; s++) if (this.map.has(s)) filled++;
    }
    return filled;
  }

  /** Throws the first write error, if any. */
  check(): void {
    // A check that failed (a measurement's pattern) says so itself.
    if (this.#error instanceof PasaError) throw this.#error;
    if (this.#error !== undefined) {
      const detail = this.#error instanceof Error
        ? this.#error.message
        : String(this.#error);
      // "disk", as over TCP: what was written is kept for resuming.
      throw new NetworkError(
        `Cannot write ${displayName(this.#state.name)}: ${detail}`,
        "disk",
        { cause: this.#error },
      );
    }
  }

  /** Hashes what the in-order pass could not (data that arrived after a gap), reading it back. */
  finishHash(): string {
    this.flush();
    this.check();
    if (this.#file.checksInPlace) return this.hash.digest("hex");
    const buf = this.#run;
    while (this.#hashed < this.#size) {
      this.#file.seekSync(this.#hashed, Deno.SeekMode.Start);
      const n = this.#file.readSync(
        buf.subarray(0, Math.min(buf.length, this.#size - this.#hashed)),
      );
      if (n === null || n === 0) {
        throw new NetworkError(
          `Cannot read back ${displayName(this.#state.name)} to hash it`,
          "io",
        );
      }
      this.hash.update(buf.subarray(0, n));
      this.#hashed += n;
    }
    return this.hash.digest("hex");
  }
}

/**
 * Resolves once no datagram for this transfer has arrived for `quietMs`
 * (checked every few milliseconds), or after `maxMs` in all.
 */
export async function settle(
  counters: ReceiveCounters,
  expected: number,
  quietMs = 25,
  maxMs = 1000,
): Promise<void> {
  const start = performance.now();
  for (;;) {
    const now = performance.now();
    const quiet = now - Math.max(counters.lastArrival, start);
    if (counters.highest + 1 >= expected && quiet >= 2) return;
    if (quiet >= quietMs || now - start >= maxMs) return;
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Repair rounds in a row that bring nothing new before a transfer is given up. */
export const MAX_STALLED_ROUNDS = 8;

/** What the receiver's UDP passes need from the session. */
export interface UdpPassContext {
  reader: FrameReader;
  send: (m: Message, options?: { quiet?: boolean }) => Promise<void>;
  counters: ReceiveCounters;
  lossy: boolean;
  /** The sender's latest pass-end, for its figures (sent, retransmitted, rate). */
  lastPassEnd?: UdpPassEnd;
  /** The socket, and its datagram count when this transfer began. */
  endpoint: UdpEndpoint;
  endpointSeen: number;
}

/**
 * Answers the sender's passes over file `index` until every slot is in
 * (true) or, with `--lossy`, after the first pass (true only if nothing was
 * lost). Does not send the verdict: the caller first readies the next file.
 */
export async function receivePasses(
  ctx: UdpPassContext,
  handler: UdpFileReceiver,
  index: number,
): Promise<boolean> {
  let first = true;
  let stalled = 0;
  let passes = 0;
  let had = handler.map.count;
  for (;;) {
    const m = await ctx.reader.readControl();
    if (m.type === "error") throw errorFromPeer(m.code, m.message, "Sender");
    if (m.type !== "udp-pass-end" || m.index !== index) {
      throw new ProtocolError(
        `Expected udp-pass-end for file ${index}, got ${m.type}`,
      );
    }
    ctx.lastPassEnd = m;
    // Stragglers matter only to a file that still lacks slots: a complete
    // one (a small file's every pass) answers at once.
    if (handler.map.count < handler.map.slots) {
      await settle(ctx.counters, m.sent);
    }
    handler.flush();
    handler.check();
    if (first) {
      // Of the slots this pass had to carry (not those kept from before).
      ctx.counters.firstPassSlots += handler.map.slots - handler.keptSlots;
      // Holes asked for during the pass and filled since were lost too.
      ctx.counters.firstPassLost += handler.map.slots - handler.map.count +
        handler.filledEarly();
      first = false;
    }
    const missing = handler.map.missing(RANGES_PER_FRAME);
    if (missing.length === 0) return true;
    // Congestion can empty one pass of a small file; a blocked port empties
    // every pass. Nothing after the first pass and a repair: give up.
    passes++;
    // Datagrams for other transfers prove UDP gets through: that is congestion.
    const socketSilent = ctx.endpoint.received === ctx.endpointSeen;
    if (ctx.counters.received === 0 && passes >= 2 && socketSilent) {
      throw new NetworkError(
        "No UDP datagram arrived in two passes: is the UDP port blocked by a firewall? " +
          "(TCP gets through: send without --udp, or open the port for UDP)",
      );
    }
    stalled = handler.map.count === had ? stalled + 1 : 0;
    had = handler.map.count;
    if (stalled >= MAX_STALLED_ROUNDS) {
      throw new NetworkError(
        `UDP repair made no progress in ${MAX_STALLED_ROUNDS} rounds: datagrams stopped arriving`,
      );
    }
    if (ctx.lossy) return false;
    ctx.counters.repairRounds++;
    await ctx.send({ type: "udp-missing", index, ranges: missing });
  }
}

/** The receiver's statistics, for its `done` frame and its own summary. */
export function receiverStats(
  counters: ReceiveCounters,
  endpointMalformed: number,
  sizes: { datagramSize: number; slotsPerDatagram: number },
  lossy: boolean,
  complete: boolean,
  passEnd: UdpPassEnd | undefined,
  kernelDrops?: number,
): UdpStats {
  const loss = counters.firstPassSlots === 0
    ? 0
    : (counters.firstPassLost / counters.firstPassSlots) * 100;
  return {
    ...sizes,
    fragmentsLost: false, // the sender's call, from what only it knows
    datagramsSent: passEnd?.addressed ?? passEnd?.sent ?? 0,
    datagramsReceived: counters.received,
    firstPassLossPercent: Math.round(loss * 1000) / 1000,
    outOfOrder: counters.outOfOrder,
    duplicates: counters.duplicates,
    malformed: counters.malformed + endpointMalformed,
    retransmittedBytes: passEnd?.retransmittedBytes ?? 0,
    repairRounds: counters.repairRounds,
    jitterMs: Math.round(counters.jitter.value * 1000) / 1000,
    rateBitsPerSecond: passEnd?.rate ?? 0,
    lossy,
    complete,
    ...(kernelDrops === undefined ? {} : { kernelDrops }),
  };
}

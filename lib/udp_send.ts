/**
 * The sending end of UDP mode: a first pass over each file, read in order
 * (and hashed on the way), cut into datagrams and paced; then repair passes
 * over the ranges the receiver lists as missing, until it says the file is
 * complete (or, with `--lossy`, after the first pass).
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";
import { setImmediate } from "node:timers";
import { NetworkError, ProtocolError } from "./errors.ts";
import type { Link } from "./link.ts";
import { Lanes } from "./lanes.ts";
import { writeControl } from "./frames.ts";
import { displayName } from "./names.ts";
import { rate } from "./units.ts";
import type { Input } from "./payload.ts";
import type { Done, Message, UdpMissing, UdpPassEnd } from "./protocol.ts";
import type { TransferState } from "./session.ts";
import { type DirectionKey, sealDatagram } from "./records.ts";
import { DatagramSizing, PROBE_EVERY } from "./udp_sizing.ts";
import {
  RateController,
  slotCount,
  slotLength,
  slotPayload,
  UDP_HEADER,
  type UdpStats,
  writeHeader,
} from "./udp.ts";

/** Yields to the event loop for a few microseconds (timers take a millisecond or more). */
function yieldBriefly(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Waiting on this (never woken) stops the thread for a while without spinning. */
const NAP = new Int32Array(new SharedArrayBuffer(4));
/** How much longer than asked such a short wait lasts here (timer slack, waking). */
const NAP_SLACK_MS = 0.07;

/**
 * Spends a byte budget that refills at the controller's rate. Bursts stay
 * under a quarter of a millisecond of data (64 KiB at least): the
 * receiver's socket buffer (about 200 KiB by default, a millisecond at
 * 1 Gbit/s) is all that absorbs them. A 1 ms timer takes 2 ms here, so
 * waits under 2 ms stop the thread instead (it has nothing else to do
 * until the budget is back), and the last few microseconds yield.
 */
export class Pacer {
  #rate: { readonly rate: number };
  #budget = 0;
  #last = performance.now();
  #nap: boolean;

  /**
   * `shared`: the thread also serves others (a `--keep` receiver sending a
   * measurement back): it is never stopped, only yielded.
   */
  constructor(
    rate: { readonly rate: number },
    options: { shared?: boolean } = {},
  ) {
    this.#rate = rate;
    this.#nap = !options.shared;
  }

  #refill(): number {
    const now = performance.now();
    const perMs = this.#rate.rate / 8 / 1000;
    this.#budget = Math.min(
      this.#budget + (now - this.#last) * perMs,
      Math.max(perMs / 4, 65_536),
    );
    this.#last = now;
    return perMs;
  }

  /** Takes `bytes` of budget: returns nothing when it is there, else a promise to wait on. */
  take(bytes: number): Promise<void> | undefined {
    if (this.#budget < bytes) this.#refill();
    if (this.#budget >= bytes) {
      this.#budget -= bytes;
      return undefined;
    }
    return (async () => {
      for (;;) {
        const perMs = this.#refill();
        if (this.#budget >= bytes) break;
        const waitMs = (bytes - this.#budget) / perMs;
        if (waitMs > 2) await new Promise((r) => setTimeout(r, waitMs - 1));
        else if (this.#nap && waitMs > NAP_SLACK_MS) {
          Atomics.wait(NAP, 0, 0, waitMs - NAP_SLACK_MS);
        } else await yieldBriefly();
      }
      this.#budget -= bytes;
    })();
  }
}

/** A queue of control messages for the UDP loop, fed by the session's reader. */
export class Inbox {
  #items: Message[] = [];
  #waiting: ((m: Message) => void) | undefined;
  #failed: ((e: unknown) => void) | undefined;
  #error: unknown;

  push(m: Message): void {
    if (this.#waiting) {
      const w = this.#waiting;
      this.#waiting = this.#failed = undefined;
      w(m);
    } else this.#items.push(m);
  }

  fail(error: unknown): void {
    this.#error = error;
    this.#failed?.(error);
    this.#waiting = this.#failed = undefined;
  }

  /** Throws what failed the session (the receiver went away, or said why), if anything did. */
  ensureOpen(): void {
    if (this.#error !== undefined) throw this.#error;
  }

  next(): Promise<Message> {
    const m = this.#items.shift();
    if (m) return Promise.resolve(m);
    if (this.#error !== undefined) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => {
      this.#waiting = resolve;
      this.#failed = reject;
    });
  }
}

/** UDP mode settings of a send. */
export interface UdpSendOptions {
  /** Datagram size, header included. */
  datagramSize: number;
  /** A fixed rate in bits per second (`--rate`); adaptive when absent. */
  rate?: number;
  /** Where adaptive pacing starts, bits per second. */
  initialRate: number;
  /** One pass, no repair. */
  lossy: boolean;
  /** Where datagrams go: the host and port number the TCP connection reached. */
  target: { hostname: string; port: number };
  /** Most slots to put in one datagram, if the receiver agrees (absent: 1). */
  slotsPerDatagram?: number;
  /** Most of the receiver's UDP ports to spread datagrams over, if it gives them (absent: 1). */
  lanes?: number;
  /** The thread serves other transfers too: the pacer must not stop it. */
  sharedThread?: boolean;
}

/**
 * The receiver's (or receivers') word at the end of a pass: all in, or what
 * is missing: `ranges` go to every target, each of `alone` to its own
 * receiver only (a group's slots that one receiver lacks).
 */
export type PassVerdict =
  | { complete: boolean }
  | {
    ranges: [number, number][];
    alone?: { to: Deno.NetAddr; ranges: [number, number][] }[];
  };

/**
 * What sending a file's datagrams needs, to one receiver or to a group:
 * where they go, the shared counters, and how a pass ends.
 */
export interface DatagramPath {
  socket: Deno.DatagramConn;
  /** Every datagram goes to each of these (a receiver, a group, receivers one by one). */
  targets: Deno.NetAddr[];
  transfer: number;
  datagramSize: number;
  /** How many slots each datagram carries. */
  sizing: Pick<DatagramSizing, "slotsAt" | "maxSlots"> & {
    /** Slots per datagram in repairs, where it differs (a group's). */
    repairSlotsAt?: (sequence: number) => number;
  };
  pacer: Pacer;
  state: TransferState;
  /** Throws once the transfer is over for this side (Ctrl-C, every receiver gone). */
  ensureOpen(): void;
  /** Sends `udp-pass-end` for file `index` and waits for the verdict. */
  passEnd(index: number): Promise<PassVerdict>;
  /** Told file `index`'s SHA-256 once its first pass has read it all. */
  firstPassDone?(index: number, sha256: string): void;
  /**
   * Told when sending to `target` failed: the targets to send to instead
   * (from now on, and this datagram), or nothing to fail the transfer.
   */
  unreachable?(
    target: Deno.NetAddr,
    error: unknown,
  ): Deno.NetAddr[] | undefined;
  /**
   * Told after each stretch of repairs: sequence numbers `from` to `end`
   * (excluded), `bytes` of slots, went to `to` alone, or to every target.
   */
  repaired?(
    to: Deno.NetAddr | undefined,
    from: number,
    end: number,
    bytes: number,
  ): void;
  /** One receiver's ports to spread datagrams over (PROTOCOL.md 9.1); absent: the targets' own. */
  lanes?: Lanes;
  /** Holes the receiver asked for during the pass (PROTOCOL.md 9.3), not yet sent; absent: not asked for. */
  early?: UdpMissing[];
  /**
   * Repair rounds one file may take before the receiver is given up on
   * (one receiver: {@link MAX_REPAIR_ROUNDS}); absent: no bound here (a
   * group bounds each of its receivers).
   */
  maxRepairRounds?: number;
  /** Seal each datagram with this key (an encrypted session). */
  seal: DirectionKey | undefined;
  /** Next sequence number; counts every datagram sent; never reused. */
  sequence: number;
  /** Bytes of every datagram sent, headers included. */
  sentBytes: number;
  /** When the first datagram went out (performance.now()), or -1. */
  firstSent: number;
  /** When the last one did. */
  lastSent: number;
  /** Bytes of the first datagram (before the time the average is over). */
  firstSentBytes: number;
  retransmittedBytes: number;
  repairRounds: number;
  clock0: number;
  /** A new digest for a body: SHA-256, or none for a payload checked against a pattern. */
  newHash: () => Hash;
}

/** What one UDP transfer to one receiver shares across its files. */
export interface UdpSendContext extends DatagramPath {
  link: Link;
  lossy: boolean;
  rate: RateController;
  sizing: DatagramSizing;
  inbox: Inbox;
}

const READ_BLOCK = 1024 * 1024;

/**
 * Repair rounds one receiver may ask for in one file: far more than random
 * loss needs (at 10% loss, a slot is still missing after 8 rounds once in
 * 10^8), and the end of a receiver that asks for ever.
 */
export const MAX_REPAIR_ROUNDS = 32;

/**
 * Sends one file over UDP until the receiver has every slot; returns the
 * SHA-256 of the file and whether it arrived complete.
 */
export async function sendUdpFile(
  ctx: DatagramPath,
  input: Input,
  index: number,
  size: number,
  start?: { offset: number; hash: Hash; ranges?: [number, number][] },
): Promise<{ sha256: string; complete: boolean }> {
  const payload = slotPayload(ctx.datagramSize, ctx.seal !== undefined);
  const slots = slotCount(size, payload);
  const block = new Uint8Array(
    Math.max(payload, Math.floor(READ_BLOCK / payload) * payload),
  );
  const datagram = new Uint8Array(
    ctx.datagramSize + (ctx.sizing.maxSlots - 1) * payload,
  );
  // Resuming: the first pass starts after the verified prefix, whose hash we hold.
  const hash = start?.hash ?? ctx.newHash();
  const from = start?.offset ?? 0;
  ctx.state.fileBytes = from;
  ctx.state.doneBytes += from;

  const sendSlot = async (
    slot: number,
    bytes: Uint8Array,
    targets: readonly Deno.NetAddr[],
  ) => {
    // Ctrl-C or a lost connection closes the link: stop sending at once,
    // not at the end of the pass (datagrams need no reply to go out).
    ctx.ensureOpen();
    writeHeader(datagram, {
      transfer: ctx.transfer,
      index,
      sequence: ctx.sequence++,
      offset: slot * payload,
      sentMicros: Math.round((performance.now() - ctx.clock0) * 1000),
    });
    datagram.set(bytes, UDP_HEADER);
    const out = datagram.subarray(
      0,
      ctx.seal
        ? sealDatagram(ctx.seal, datagram, bytes.length)
        : UDP_HEADER + bytes.length,
    );
    const wait = ctx.pacer.take(out.length);
    if (wait) await wait;
    const now = performance.now();
    if (ctx.firstSent < 0) {
      ctx.firstSent = now;
      ctx.firstSentBytes = out.length;
    }
    ctx.lastSent = now;
    ctx.sentBytes += out.length;
    for (const target of [...targets]) {
      try {
        await sendTo(
          ctx.socket,
          out,
          ctx.lanes
            ? { ...target, port: ctx.lanes.portFor(ctx.sequence - 1) }
            : target,
        );
      } catch (error) {
        // A target this machine cannot send to may have others instead.
        const instead = ctx.unreachable?.(target, error);
        if (!instead) throw error;
        for (const t of instead) await sendTo(ctx.socket, out, t);
      }
    }
  };

  // Slots the receiver kept from an interrupted transfer (resuming): not sent.
  const kept = (start?.ranges ?? []).map(([from, length]) =>
    [from / payload, Math.ceil((from + length) / payload)] as const
  );
  const isKept = (slot: number) => {
    let lo = 0, hi = kept.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const [a, b] = kept[mid]!;
      if (slot < a) hi = mid - 1;
      else if (slot >= b) lo = mid + 1;
      else return true;
    }
    return false;
  };

  /**
   * Sends consecutive slots from `first` on, as many per datagram as the
   * sizing allows (`repair`: as repairs may be cut, finer), but none the
   * receiver kept.
   */
  const sendSlots = async (
    first: number,
    bytes: Uint8Array,
    repair = false,
    targets: readonly Deno.NetAddr[] = ctx.targets,
  ) => {
    const count = Math.ceil(bytes.length / payload);
    const slice = (k: number, n: number) =>
      bytes.subarray(k * payload, Math.min(bytes.length, (k + n) * payload));
    for (let k = 0; k < count;) {
      if (isKept(first + k)) {
        k++;
        continue;
      }
      const most = repair
        ? ctx.sizing.repairSlotsAt?.(ctx.sequence) ??
          ctx.sizing.slotsAt(ctx.sequence)
        : ctx.sizing.slotsAt(ctx.sequence);
      let n = Math.min(most, count - k);
      for (let j = 1; j < n; j++) {
        if (isKept(first + k + j)) n = j;
      }
      await sendSlot(first + k, slice(k, n), targets);
      k += n;
    }
  };

  /** Sends `ranges` again, to `to` alone or to every target, read through `into`. */
  const repair = async (
    ranges: [number, number][],
    to?: Deno.NetAddr,
    into: Uint8Array = block,
  ) => {
    const from = ctx.sequence;
    let bytes = 0;
    for (const [firstSlot, count] of ranges) {
      if (firstSlot + count > slots || count === 0) {
        throw new ProtocolError(
          `Receiver asked for slots ${firstSlot}+${count} of a ${slots}-slot file`,
        );
      }
      // Read whole stretches of the range at once, then cut them into datagrams.
      const perBlock = Math.floor(into.length / payload);
      for (let s = firstSlot; s < firstSlot + count; s += perBlock) {
        const n = Math.min(perBlock, firstSlot + count - s);
        const start = s * payload;
        const length = (n - 1) * payload + slotLength(size, payload, s + n - 1);
        const piece = into.subarray(0, length);
        await input.readAt(start, piece);
        await sendSlots(s, piece, true, to ? [to] : ctx.targets);
        bytes += piece.length;
      }
    }
    ctx.retransmittedBytes += bytes;
    if (ctx.sequence > from) ctx.repaired?.(to, from, ctx.sequence, bytes);
  };

  /**
   * Sends the holes the receiver asked for during this first pass, between
   * blocks, through a buffer of their own (the pass's are in use).
   */
  let earlyBlock: Uint8Array | undefined;
  // Never more than the file again: a receiver that asks and asks gets
  // the rest of its holes at the pass's end, as any receiver does.
  let earlyBudget = size;
  const repairEarly = async (sentTo: number) => {
    const asked = ctx.early?.splice(0) ?? [];
    for (const m of asked) {
      if (m.index !== index) continue; // a file already past
      // Only slots this pass has sent can be holes.
      const ranges = m.ranges.filter(([first, count]) =>
        (first + count) * payload <= sentTo
      );
      const bytes = ranges.reduce((sum, [, count]) => sum + count, 0) *
        payload;
      if (ranges.length === 0 || bytes > earlyBudget) continue;
      earlyBudget -= bytes;
      earlyBlock ??= new Uint8Array(block.length);
      await repair(ranges, undefined, earlyBlock);
    }
  };

  // First pass: in order, hashing as we send. The next block is read while
  // this one goes out, so that the pacer never waits for the disk.
  const blocks = [block, new Uint8Array(block.length)];
  // The digest is of the file as read: each block is hashed as its read
  // completes (blocks are read in order), before any sending code, or
  // another read into the same buffer, can touch it. A bug between reading
  // and sending (a buffer reused, a datagram cut wrong) then makes the
  // receiver's digest differ, never both ends agree on wrong bytes.
  const readBlock = async (offset: number, into: Uint8Array) => {
    const piece = into.subarray(0, Math.min(into.length, size - offset));
    try {
      await input.readAt(offset, piece);
    } catch (error) {
      throw new NetworkError(
        `Cannot read ${displayName(ctx.state.name)}: ${
          (error as Error).message
        }`,
        "io",
      );
    }
    hash.update(piece);
    return piece;
  };
  let reading = from < size ? readBlock(from, blocks[0]!) : undefined;
  reading?.catch(() => {}); // awaited below; not unhandled meanwhile
  for (let offset = from, k = 0; offset < size; offset += block.length, k++) {
    const piece = await reading!;
    const next = offset + block.length;
    reading = next < size ? readBlock(next, blocks[(k + 1) % 2]!) : undefined;
    reading?.catch(() => {});
    await sendSlots(offset / payload, piece);
    ctx.state.fileBytes = offset + piece.length;
    ctx.state.doneBytes += piece.length;
    await repairEarly(offset + piece.length);
  }
  const sha256 = hash.digest("hex");
  ctx.firstPassDone?.(index, sha256);

  for (let rounds = 1;; rounds++) {
    // A pass-end's answer lists every hole: what was asked before is in it.
    ctx.early?.splice(0);
    const verdict = await ctx.passEnd(index);
    if ("complete" in verdict) return { sha256, complete: verdict.complete };
    // Each round sends at most the file (its ranges never overlap): a
    // receiver that keeps asking costs a bounded number of files.
    if (rounds > (ctx.maxRepairRounds ?? Infinity)) {
      throw new ProtocolError(
        `The receiver still asked for parts of ${
          displayName(ctx.state.name)
        } after ${ctx.maxRepairRounds} rounds of repair: given up`,
      );
    }
    ctx.repairRounds++;
    // Each receiver's own slots first, the group's last: the pass's last
    // datagrams then reach everyone, who need not wait for more.
    for (const one of verdict.alone ?? []) await repair(one.ranges, one.to);
    await repair(verdict.ranges);
  }
}

/** A socket to send datagrams from, on any port (IPv6 or IPv4). */
export function openSendingSocket(ipv6: boolean): Deno.DatagramConn {
  try {
    return Deno.listenDatagram({
      hostname: ipv6 ? "::" : "0.0.0.0",
      port: 0,
      transport: "udp",
    });
  } catch (error) {
    throw new NetworkError(
      `Cannot open a UDP socket: ${(error as Error).message}`,
      "network",
      { cause: error },
    );
  }
}

/** Sends one datagram to `target`; a full socket buffer drops it as the network would. */
export async function sendTo(
  socket: Deno.DatagramConn,
  out: Uint8Array,
  target: Deno.NetAddr,
): Promise<void> {
  try {
    await socket.send(out, target);
  } catch (error) {
    if (!(error instanceof Deno.errors.WouldBlock)) {
      const detail = error instanceof Error ? error.message : String(error);
      // EPERM from sendto: this machine's own firewall refuses them.
      const hint = /os error 1\)/.test(detail)
        ? " (does a firewall on this machine refuse outgoing UDP? send without --udp, or allow it)"
        : "";
      throw new NetworkError(
        `Cannot send datagrams: ${detail}${hint}`,
        "network",
        { cause: error },
      );
    }
  }
}

/** The `udp-pass-end` frame for file `index` as `path` stands now (PROTOCOL.md 9.3). */
export function passEndOf(path: DatagramPath, index: number): UdpPassEnd {
  return {
    type: "udp-pass-end",
    index,
    sent: path.sequence,
    retransmittedBytes: path.retransmittedBytes,
    rate: averageSent(path),
  };
}

/** Sends `udp-pass-end` over `link` and reads the one receiver's verdict from `inbox`. */
async function passEndOver(
  link: Link,
  inbox: Inbox,
  path: DatagramPath,
  index: number,
): Promise<PassVerdict> {
  await writeControl(link, passEndOf(path, index));
  const reply = await inbox.next();
  if (reply.type === "udp-file-done" && reply.index === index) {
    return { complete: reply.complete };
  }
  if (reply.type !== "udp-missing" || reply.index !== index) {
    throw new ProtocolError(
      `Expected udp-missing or udp-file-done for file ${index}, got ${reply.type}`,
    );
  }
  return { ranges: reply.ranges };
}

/** Opens the sender's datagram socket and the state one UDP transfer shares. */
export function openUdp(
  link: Link,
  accepted: { transfer: number; slotsPerDatagram?: number; ports?: number[] },
  o: UdpSendOptions,
  state: TransferState,
): UdpSendContext {
  const peer = o.target;
  const host =
    peer.hostname.startsWith("::ffff:") && peer.hostname.includes(".")
      ? peer.hostname.slice(7)
      : peer.hostname;
  const socket = openSendingSocket(host.includes(":"));
  const sealed = link.datagramKeys !== undefined;
  const sizing = new DatagramSizing(
    Math.max(
      1,
      Math.min(accepted.slotsPerDatagram ?? 1, o.slotsPerDatagram ?? 1),
    ),
  );
  const controller = new RateController(
    o.rate === undefined
      ? {
        initial: o.initialRate,
        datagramBytes: averageDatagram(o.datagramSize, sizing, sealed),
      }
      : { fixed: o.rate, initial: o.rate },
  );
  const inbox = new Inbox();
  // The receiver's other ports, as many as were asked for.
  const extra = (accepted.ports ?? []).slice(
    0,
    Math.max(0, (o.lanes ?? 1) - 1),
  );
  const ctx: UdpSendContext = {
    link,
    socket,
    targets: [{ transport: "udp", hostname: host, port: peer.port }],
    // Ctrl-C here, or the receiver's connection gone (its frames are read
    // beside the datagrams): the datagrams stop at once.
    ensureOpen: () => {
      link.ensureOpen("sending datagrams");
      inbox.ensureOpen();
    },
    passEnd: (index) => passEndOver(link, inbox, ctx, index),
    transfer: accepted.transfer,
    datagramSize: o.datagramSize,
    lossy: o.lossy,
    rate: controller,
    sizing,
    pacer: new Pacer(controller, { shared: o.sharedThread === true }),
    inbox,
    state,
    seal: link.datagramKeys?.out,
    ...(extra.length > 0 ? { lanes: new Lanes(peer.port, extra) } : {}),
    ...(o.lossy ? {} : { early: [] }),
    maxRepairRounds: MAX_REPAIR_ROUNDS,
    ...freshCounters(),
  };
  return ctx;
}

/** A path's counters before its first datagram, and its digest maker. */
export function freshCounters(): Pick<
  DatagramPath,
  | "sequence"
  | "sentBytes"
  | "firstSent"
  | "lastSent"
  | "firstSentBytes"
  | "retransmittedBytes"
  | "repairRounds"
  | "clock0"
  | "newHash"
> {
  return {
    sequence: 0,
    sentBytes: 0,
    firstSent: -1,
    lastSent: -1,
    firstSentBytes: 0,
    retransmittedBytes: 0,
    repairRounds: 0,
    clock0: performance.now(),
    newHash: () => createHash("sha256"),
  };
}

/** Mean bytes of a datagram as `sizing` sends them now: seven large to one probe, or all single. */
export function averageDatagram(
  datagramSize: number,
  sizing: DatagramSizing,
  sealed: boolean,
): number {
  if (sizing.single) return datagramSize;
  const large = datagramSize +
    (sizing.maxSlots - 1) * slotPayload(datagramSize, sealed);
  return ((PROBE_EVERY - 1) * large + datagramSize) / PROBE_EVERY;
}

/** Routes the receiver's UDP frames: reports to the rate and the sizing, the rest to the inbox. */
export function udpDispatcher(
  udp:
    & Pick<
      UdpSendContext,
      "inbox" | "rate" | "sizing" | "datagramSize" | "seal"
    >
    & Partial<Pick<UdpSendContext, "lanes" | "firstSent" | "early">>,
): (m: Message) => void {
  let before = 0; // the rate before a test of the path
  return (m) => {
    if (m.type === "udp-missing" && m.early) {
      // Taken between blocks of the pass; where not asked for, ignored.
      udp.early?.push(m);
      return;
    }
    if (m.type !== "udp-report") return udp.inbox.push(m);
    const dropped = udp.lanes?.report(m.received, m.lanes) ?? [];
    if (dropped.length > 0) {
      // That loss was the blocked ports', not the path's: judge from here.
      udp.rate.rebase(m.received, m.expected);
      if (m.probes !== undefined) {
        udp.sizing.rebase(m.received, m.probes, m.expected);
      }
      return;
    }
    const first = udp.firstSent ?? -1;
    if (first >= 0) udp.rate.begin(first);
    udp.rate.report(m.received, m.expected);
    if (m.probes === undefined) return;
    const step = udp.sizing.report(m.received, m.probes, m.expected);
    if (step === "test") {
      // Does large datagrams' loss fall when the rate does? Halve and hold
      // (a fixed rate is only held: it stays what was asked for).
      before = udp.rate.rate;
      if (!udp.rate.fixed) udp.rate.rate = Math.max(1e6, before / 2);
      udp.rate.held = true;
    } else if (step) {
      udp.rate.held = false;
      // Slowing cured nothing: the path loses fragments, and one-slot
      // datagrams meet another path; find its rate anew. It cured the
      // loss: that rate was too high, take a quarter off.
      if (udp.rate.fixed) {
        // what was asked for stays
      } else if (step === "single") udp.rate.restart(before);
      else udp.rate.rate = before * 0.75;
      udp.rate.datagramBytes = averageDatagram(
        udp.datagramSize,
        udp.sizing,
        udp.seal !== undefined,
      );
    }
  };
}

/**
 * What was really sent, on average, in bit/s, while datagrams went out:
 * the bytes after the first datagram over the time from it to the last
 * one, so that neither waiting for the receiver's replies nor its final
 * checks dilute the figure (with one datagram: to now). Never more than the
 * path took in, whatever the controller allowed.
 */
export function averageSent(udp: DatagramPath): number {
  if (udp.firstSent < 0) return 0;
  if (udp.lastSent > udp.firstSent) {
    const seconds = (udp.lastSent - udp.firstSent) / 1000;
    return Math.round(
      rate((udp.sentBytes - udp.firstSentBytes) * 8, seconds),
    );
  }
  const seconds = (performance.now() - udp.firstSent) / 1000;
  return Math.round(rate(udp.sentBytes * 8, seconds));
}

/** The sender's statistics joined with the receiver's, from its `done`. */
export function senderStats(
  udp: DatagramPath & {
    lossy: boolean;
    sizing: Pick<DatagramSizing, "maxSlots" | "verdict">;
  },
  done: Done,
  complete: boolean,
): UdpStats {
  const r = done.udp ?? {};
  const num = (k: string) => (typeof r[k] === "number" ? r[k] as number : 0);
  return {
    datagramSize: udp.datagramSize,
    slotsPerDatagram: udp.sizing.maxSlots,
    fragmentsLost: udp.sizing.verdict !== undefined,
    datagramsSent: udp.sequence,
    datagramsReceived: num("datagramsReceived"),
    firstPassLossPercent: num("firstPassLossPercent"),
    outOfOrder: num("outOfOrder"),
    duplicates: num("duplicates"),
    malformed: num("malformed"),
    ...(typeof r.kernelDrops === "number"
      ? { kernelDrops: r.kernelDrops }
      : {}),
    retransmittedBytes: udp.retransmittedBytes,
    repairRounds: udp.repairRounds,
    jitterMs: num("jitterMs"),
    rateBitsPerSecond: averageSent(udp),
    lossy: udp.lossy,
    complete,
  };
}

/**
 * One sender, many receivers (PROTOCOL.md section 15): each receiver has
 * its own paired session (its own TCP connection, keys, manifest, acks);
 * the file bodies go once, as datagrams to a multicast group, sealed with
 * a key every receiver got over its own encrypted channel. Each file's
 * first pass starts when every receiver still in has reached it; after
 * each pass every receiver still missing slots lists them, and one repair
 * to the group serves all of them. The group goes at the rate of its
 * slowest receiver (each has its own controller); one that holds the
 * others back, stops answering or loses its connection is dropped, told
 * why, and the rest go on. A receiver the group's datagrams do not reach
 * gets them by unicast instead. Each receiver's place (its link, reports
 * and rate) is a {@link Seat}, in lib/group_seat.ts.
 *
 * @module
 */

import { NetworkError, type PasaError, ProtocolError } from "./errors.ts";
import {
  groupAddress,
  groupKey,
  groupTransferId,
  type Laggard,
  type MemberPace,
  SLOW_RULE,
  type SlowRule,
  SlowWatch,
  splitRepairs,
  withoutRanges,
} from "./group.ts";
import type { Input } from "./payload.ts";
import type { Done, UdpRequest } from "./protocol.ts";
import type { DirectionKey } from "./records.ts";
import { hangUp, TransferState, withDeadline } from "./session.ts";
import type { Link } from "./link.ts";
import { Seat } from "./group_seat.ts";
import { noDigest } from "./pattern.ts";
import {
  RateController,
  slotCount,
  slotPayload,
  type UdpStats,
} from "./udp.ts";
import {
  averageDatagram,
  averageSent,
  type DatagramPath,
  freshCounters,
  MAX_REPAIR_ROUNDS,
  openSendingSocket,
  Pacer,
  passEndOf,
  type PassVerdict,
  senderStats,
  sendUdpFile,
} from "./udp_send.ts";

/** Repair rounds one receiver of a group may ask for in one file, as one receiver alone. */
export const MAX_GROUP_ROUNDS = MAX_REPAIR_ROUNDS;

/**
 * How many receivers must lack a slot for its repair to go to the group;
 * fewer get it alone. Measured on the lab against every repair to the
 * group and every repair alone (bench/README.md).
 */
export const SHARED_REPAIR = 2;

/**
 * How long the group waits, once one receiver has accepted, for the others
 * to accept (a receiver on a terminal asks its user first). Those that have
 * not are put out, and the group starts: the ones that accepted wait with
 * nothing to read, under their own time-out (60 s unless told otherwise).
 */
export const ACCEPT_GRACE_MS = 30_000;

/** How long a receiver has to answer a pass's end (it waits at most 1 s for stragglers itself). */
export const PASS_ANSWER_MS = 10_000;

/**
 * How long one receiver's repairs of a file may take, from the end of the
 * first pass: the longer of this and {@link REPAIR_PASS_FACTOR} times the
 * first pass. Random loss ends in a few rounds; a receiver that asks on and
 * on (lying, or on a path that cannot carry the file) holds the others.
 */
export const REPAIR_MIN_MS = 10_000;
export const REPAIR_PASS_FACTOR = 3;
/** The most one receiver may ask to be sent again of a file, in files. */
export const REPAIR_MAX_FILES = 2;

/** Settings of a group send. */
export interface GroupOptions {
  /** The UDP port datagrams go to (pasa: the number of its TCP port). */
  port: number;
  /** Size of a one-slot datagram, header and tag included. */
  datagramSize: number;
  /** Most slots a datagram may carry, if every receiver agrees. */
  slotsPerDatagram: number;
  /** Where each receiver's controller starts (bit/s). */
  initialRate: number;
  /** A fixed rate (bit/s), for every receiver. */
  rate?: number;
  /** Seal datagrams with a group key (an encrypted session). */
  sealed: boolean;
  /** False: every receiver by unicast from the start (`--no-multicast`). */
  multicast: boolean;
  /** When a receiver counts as too slow, or gone. @default {SLOW_RULE} */
  rule?: SlowRule;
  /** Told when a receiver is served by unicast, or dropped. */
  onEvent?: (event: GroupEvent) => void;
  /** The group's address, instead of a random one from 239.255.0.0/16. */
  address?: string;
  /** A measurement's generated payload: the receivers compare it, nobody hashes. */
  pattern?: boolean;
  /** @default {ACCEPT_GRACE_MS} */
  acceptGraceMs?: number;
}

/** What the group tells the user as it goes. */
export type GroupEvent =
  | { type: "unicast"; receiver: string }
  | { type: "no-multicast"; reason: string }
  | { type: "dropped"; receiver: string; reason: string };

/** A file under way: every receiver still in waits on it. */
interface FileJob {
  index: number;
  done: Promise<{ sha256: string } | { error: unknown }>;
  /** The file's SHA-256, once its first pass read it all. */
  sha256?: string;
  /** When the first pass ended, and how long it took (ms). */
  passEnded?: number;
  passMs?: number;
}

/** Datagrams to the group and the sessions of its receivers. */
export class UdpGroup {
  readonly address: string;
  readonly transfer: number;
  readonly port: number;
  /** Progress of the bodies themselves (each session keeps its own too). */
  readonly state = new TransferState();
  #key: (DirectionKey & { base64: string }) | undefined;
  #options: GroupOptions;
  #seats: Seat[] = [];
  /** The seats in the group now (status "in"), kept as they join and leave. */
  #inside: Seat[] = [];
  /**
   * Of those, the ones the file under way is for (the others have it):
   * they set the pace and are watched.
   */
  #taking: Seat[] = [];
  #socket: Deno.DatagramConn;
  #path: DatagramPath;
  #job: FileJob | undefined;
  #watch: SlowWatch;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** Datagrams go to the group address (until this machine cannot send there). */
  #multicast: boolean;
  /** Runs out {@link ACCEPT_GRACE_MS} after the first accept. */
  #acceptTimer: ReturnType<typeof setTimeout> | undefined;
  /** The most one receiver got over a second (bit/s): what the group can carry. */
  #best = 0;
  /** Slots of the file under way. */
  #slots = 0;
  /** Told the file's digest once its first pass is over. */
  #firstPassDone: (sha256: string) => void = () => {};
  #sizing = {
    maxSlots: 1,
    slotsAt: (_sequence: number) => 1,
    repairSlotsAt: (_sequence: number) => 1,
  };

  constructor(options: GroupOptions) {
    this.#options = options;
    this.#multicast = options.multicast;
    this.address = options.address ?? groupAddress();
    this.transfer = groupTransferId();
    this.port = options.port;
    this.#key = options.sealed ? groupKey() : undefined;
    this.#watch = new SlowWatch(options.rule ?? SLOW_RULE);
    this.#socket = openSendingSocket(false);
    // Read for every datagram: a loop over the seats in, no allocation.
    const lowest = () => {
      let rate = Infinity;
      for (const s of this.#taking) rate = Math.min(rate, s.rate.rate);
      return rate === Infinity ? options.initialRate : rate;
    };
    const pace = {
      get rate() {
        return lowest();
      },
    };
    const targets: Deno.NetAddr[] = options.multicast
      ? [{ transport: "udp", hostname: this.address, port: options.port }]
      : [];
    this.#path = {
      socket: this.#socket,
      targets,
      transfer: this.transfer,
      datagramSize: options.datagramSize,
      sizing: this.#sizing,
      pacer: new Pacer(pace),
      state: this.state,
      // Checked before every datagram: no receiver the file is for is left.
      ensureOpen: () => {
        if (this.#inside.length === 0) {
          throw new NetworkError(
            "Every receiver left the group",
            "network",
          );
        }
        for (const s of this.#taking) if (s.status === "in") return;
        throw new NetworkError(
          "Every receiver this file was for left the group",
          "network",
        );
      },
      passEnd: (index) => this.#passEnd(index),
      firstPassDone: (_index, sha256) => this.#firstPassDone(sha256),
      unreachable: (target, error) => this.#unreachable(target, error),
      repaired: (to, from, end, bytes) => {
        for (const s of this.#inside) {
          if (to === undefined || to === s.target) s.retransmitted += bytes;
          else s.skipped.skip(from, end);
        }
      },
      seal: this.#key,
      ...freshCounters(),
      ...(options.pattern ? { newHash: noDigest } : {}),
    };
  }

  /** The `group` member of `udp-request` (the key only in an encrypted session). */
  request(): NonNullable<UdpRequest["group"]> {
    return {
      address: this.address,
      port: this.port,
      transfer: this.transfer,
      ...(this.#key ? { key: this.#key.base64 } : {}),
    };
  }

  /** The group's datagram key, in an encrypted session. */
  get seal(): DirectionKey | undefined {
    return this.#key;
  }

  /** Whether datagrams go to the group address (else each receiver by unicast). */
  get multicast(): boolean {
    return this.#multicast;
  }

  /** A place for one paired receiver (on `link`), before its session starts. */
  seat(name: string, link?: Link): Seat {
    const seat = new Seat(this, name, link);
    this.#seats.push(seat);
    return seat;
  }

  /** Every seat, in the order they paired. */
  get seats(): readonly Seat[] {
    return this.#seats;
  }

  /** Datagrams sent, repairs included. */
  get datagramsSent(): number {
    return this.#path.sequence;
  }

  /** @internal A seat's receiver accepted: it joins the group. */
  joined(seat: Seat): void {
    seat.rate = new RateController(
      this.#options.rate === undefined
        ? {
          initial: this.#options.initialRate,
          datagramBytes: averageDatagram(
            this.#options.datagramSize,
            seat.sizing,
            this.#key !== undefined,
          ),
        }
        : { fixed: this.#options.rate, initial: this.#options.rate },
    );
    this.#inside = this.#seats.filter((s) => s.status === "in");
    if (!this.#multicast) this.#unicast(seat, false);
    this.#acceptTimer ??= setTimeout(
      () => this.#lateAccepts(),
      this.#options.acceptGraceMs ?? ACCEPT_GRACE_MS,
    );
    this.#next();
  }

  /** Puts out the receivers that paired but have not accepted in time. */
  #lateAccepts(): void {
    const grace = (this.#options.acceptGraceMs ?? ACCEPT_GRACE_MS) / 1000;
    const reason =
      `it did not accept the transfer within ${grace} s of the first receiver (is its user being asked?)`;
    for (const seat of this.#seats) {
      if (seat.status !== "joining" || !seat.link) continue;
      this.#expel(
        seat,
        new NetworkError(`Dropped from the group: ${reason}`, "dropped"),
      );
      this.#options.onEvent?.({ type: "dropped", receiver: seat.name, reason });
    }
  }

  /** @internal A seat is gone: the group goes on without it. */
  left(seat: Seat): void {
    const i = this.#path.targets.indexOf(seat.target!);
    if (i >= 0 && seat.unicast) this.#path.targets.splice(i, 1);
    this.#inside = this.#seats.filter((s) => s.status === "in");
    this.#taking = this.#taking.filter((s) => s.status === "in");
    this.#next();
  }

  /** @internal A seat reached file `index`: its body, once every seat still in has. */
  async file(
    seat: Seat,
    index: number,
    input: Input,
    entry: { path: string; size: number },
  ): Promise<{ sha256: string }> {
    seat.at = index;
    seat.input = input;
    seat.size = entry.size;
    seat.path = entry.path;
    this.#next();
    for (;;) {
      const job = this.#job;
      if (job && job.index === index) {
        // Released once it has every slot: the others' repairs are theirs.
        const released = seat.wake().then(() => undefined);
        const outcome = await Promise.race([job.done, released]);
        if (seat.status === "gone") throw seat.why;
        if (outcome === undefined) {
          if (seat.pending !== index && job.sha256 !== undefined) {
            return { sha256: job.sha256 };
          }
          continue;
        }
        if ("error" in outcome) throw outcome.error;
        return outcome;
      }
      if (seat.status === "gone") throw seat.why;
      await seat.wake();
    }
  }

  /** @internal A seat's session has sent every file it needs: the group no longer waits for it. */
  finished(seat: Seat): void {
    seat.at = Infinity;
    this.#next();
  }

  /**
   * Starts the next file once no seat is still joining and every seat in
   * has reached its next one (or needs none): the lowest of those, for the
   * seats that lack it. A seat that has a file as it is skipped it, and
   * waits at a later one.
   */
  #next(): void {
    if (this.#job) return;
    if (this.#seats.some((s) => s.status === "joining")) return;
    const inside = this.#seats.filter((s) => s.status === "in");
    if (inside.length === 0) {
      for (const s of this.#seats) s.notify();
      return;
    }
    if (inside.some((s) => s.at < 0)) return;
    const index = Math.min(...inside.map((s) => s.at));
    if (index === Infinity) return;
    const seats = inside.filter((s) => s.at === index);
    this.#taking = seats;
    const lead = seats[0]!;
    const maxSlots = Math.min(...seats.map((s) => s.sizing.maxSlots));
    this.#sizing.maxSlots = maxSlots;
    // One receiver whose path loses IP fragments (or seems to: a starved
    // receiver's full buffer drops large datagrams first) must not cut the
    // first pass into single slots for everyone: that takes most of the
    // group's most, while the repairs, in single slots, still reach it.
    // Only when most receivers say so does the first pass go single too.
    // Asked for every datagram: loops over the seats in, no allocation.
    this.#sizing.slotsAt = (sequence) => {
      let single = 0;
      let n = maxSlots;
      for (const s of this.#taking) {
        if (s.sizing.single) single++;
        else n = Math.min(n, s.sizing.slotsAt(sequence));
      }
      return single * 2 > this.#taking.length ? 1 : n;
    };
    this.#sizing.repairSlotsAt = (sequence) => {
      let n = maxSlots;
      for (const s of this.#taking) {
        n = Math.min(n, s.sizing.slotsAt(sequence));
      }
      return n;
    };
    // Each seat says again when it reaches the next file.
    this.#slots = slotCount(
      lead.size,
      slotPayload(this.#options.datagramSize, this.#key !== undefined),
    );
    for (const s of seats) {
      s.pending = index;
      s.at = -1;
      s.rounds = 0;
      s.repairAsked = 0;
    }
    const passStarted = performance.now();
    this.#firstPassDone = (sha256) => {
      const job = this.#job;
      if (!job) return;
      job.sha256 = sha256;
      job.passEnded = performance.now();
      job.passMs = job.passEnded - passStarted;
    };
    this.state.beginFile(index, lead.path, lead.size);
    // Read through a receiver still waiting for the file: one let go (it
    // has every slot) or gone closes its own handle on it, even while a
    // read is under way: that read is made again through another's.
    const input: Input = {
      read: () =>
        Promise.reject(new TypeError("read the group's file at offsets")),
      readAt: async (position, into) => {
        // Each try is through another receiver: as many tries as seats.
        for (const _ of seats) {
          const open = seats.find((s) =>
            s.status === "in" && s.pending === index
          );
          if (!open) break;
          try {
            return await open.input!.readAt(position, into);
          } catch (error) {
            if (open.status === "in" && open.pending === index) throw error;
          }
        }
        throw new NetworkError(
          "Every receiver this file was for left the group",
          "network",
        );
      },
      close: () => {},
    };
    const done = sendUdpFile(this.#path, input, index, lead.size)
      .then(({ sha256 }) => ({ sha256 }), (error) => ({ error }))
      .finally(() => {
        this.#job = undefined;
        this.#stopWatching();
        this.#next();
      });
    this.#job = { index, done };
    this.#startWatching();
    for (const s of this.#seats) s.notify();
  }

  /** Every 100 ms while a file goes: who is too slow or silent, and whom the group's datagrams miss. */
  #startWatching(): void {
    this.#timer ??= setInterval(() => this.#look(), 100);
  }

  #stopWatching(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #look(): void {
    const now = performance.now();
    const paces = new Map<string, MemberPace>();
    for (const s of this.#taking) {
      if (s.status !== "in") continue;
      paces.set(s.name, { rate: s.rate.rate, heardAt: s.heardAt });
      // Reports that arrive late and then bunched make a second look
      // shorter than it was: no receiver got more than was sent.
      this.#best = Math.max(
        this.#best,
        Math.min(s.delivered, averageSent(this.#path)),
      );
      // Nothing came in half a second of the group's datagrams: they do not
      // reach it (a switch that filters multicast, another subnet).
      if (
        !s.unicast && s.received === 0 && s.heardAt - s.joinedAt > 500 &&
        this.#path.firstSent >= 0 && now - this.#path.firstSent > 500 &&
        this.#path.sequence >= 64
      ) {
        this.#unicast(s, true);
      }
    }
    for (const laggard of this.#watch.update(now, paces, this.#best)) {
      const seat = this.#seats.find((s) => s.name === laggard.name)!;
      this.drop(seat, laggard);
    }
  }

  /**
   * This machine cannot send to the group address (no route for multicast,
   * a firewall): every receiver is served by unicast from now on, and the
   * datagram that failed goes to each. It cannot send to one receiver's
   * own address: that receiver is put out, the others go on.
   */
  #unreachable(
    target: Deno.NetAddr,
    error: unknown,
  ): Deno.NetAddr[] | undefined {
    const i = this.#path.targets.indexOf(target);
    if (i < 0) return undefined;
    const seat = this.#inside.find((s) => s.target === target);
    if (seat) {
      this.#expel(seat, error as PasaError); // which takes its address out
      return [];
    }
    if (!this.#multicast || target.hostname !== this.address) return undefined;
    this.#multicast = false;
    this.#path.targets.splice(i, 1);
    // The system's words (the error's own are "Cannot send datagrams: ...").
    const reason = ((error as Error).cause as Error | undefined)?.message ??
      (error as Error).message;
    this.#options.onEvent?.({ type: "no-multicast", reason });
    const instead: Deno.NetAddr[] = [];
    for (const seat of [...this.#inside]) {
      if (seat.unicast) continue;
      if (!seat.target) {
        // It gave no port of its own (PROTOCOL.md 15): nothing can reach it.
        this.#expel(
          seat,
          new NetworkError(
            `Dropped from the group: ${reason}, and it gave no port of its own for unicast`,
            "network",
          ),
        );
        continue;
      }
      seat.unicast = true;
      this.#path.targets.push(seat.target);
      instead.push(seat.target);
    }
    return instead;
  }

  /** From now on `seat` gets every datagram by unicast too. */
  #unicast(seat: Seat, fallback: boolean): void {
    if (seat.unicast || !seat.target) return;
    seat.unicast = true;
    this.#path.targets.push(seat.target);
    if (fallback) {
      // What it reported so far was the group missing it, not its path.
      seat.rate.restart(this.#options.initialRate);
      this.#options.onEvent?.({ type: "unicast", receiver: seat.name });
    }
  }

  /** Drops `seat` from the group: its session ends with the reason, the others go on. */
  drop(seat: Seat, laggard: Laggard): void {
    if (seat.status !== "in") return;
    const rule = this.#options.rule ?? SLOW_RULE;
    const mbits = (bps: number) => `${(bps / 1e6).toFixed(0)} Mbit/s`;
    const reason = laggard.why === "silent"
      ? `it sent no report for ${rule.silentMs / 1000} s`
      : `it took ${mbits(seat.rate.rate)} for ${rule.graceMs / 1000} s, ${
        rule.floor > rule.share * this.#best
          ? `under the floor of ${mbits(rule.floor)}`
          : `where the group carried ${mbits(this.#best)}`
      }`;
    const error = new NetworkError(
      `Dropped from the group: ${reason}; what arrived is kept, run pasa receive again to fetch the rest`,
      "dropped",
    );
    this.#expel(seat, error);
    this.#options.onEvent?.({ type: "dropped", receiver: seat.name, reason });
  }

  /** Puts `seat` out of the group: it is told why at once and let go. */
  #expel(seat: Seat, error: PasaError): void {
    seat.dropped = true;
    seat.leave(error);
    // The others must not wait on its session.
    const link = seat.link!;
    hangUp(link, { report: error, lingerMs: 1000 }).finally(() => link.close());
  }

  /**
   * Ends a pass of file `index`: every seat still missing slots of it says
   * which; one repair list serves them all. A seat whose connection fails
   * here is gone; the others are not held by it.
   */
  async #passEnd(index: number): Promise<PassVerdict> {
    const asked = this.#seats.filter((s) =>
      s.status === "in" && s.pending === index
    );
    const frame = passEndOf(this.#path, index);
    const answers = await Promise.all(asked.map(async (s) => {
      const answer = s.exchange({
        ...frame,
        retransmittedBytes: s.retransmitted,
        addressed: this.#path.sequence - s.skipped.total,
      }, index);
      answer.catch(() => {}); // after a deadline, ended by the expulsion
      try {
        return { seat: s, verdict: await withDeadline(answer, PASS_ANSWER_MS) };
      } catch (error) {
        if ((error as Error).message !== "deadline passed") {
          s.leave(error);
          return undefined;
        }
        // It reports, so its connection lives, but it does not answer.
        const reason = `it did not answer the end of a pass within ${
          PASS_ANSWER_MS / 1000
        } s`;
        this.#expel(
          s,
          new NetworkError(`Dropped from the group: ${reason}`, "dropped"),
        );
        this.#options.onEvent?.({ type: "dropped", receiver: s.name, reason });
        return undefined;
      }
    }));
    const lists: { seat: Seat; ranges: [number, number][] }[] = [];
    for (const answer of answers) {
      if (!answer) continue;
      const { seat, verdict } = answer;
      if ("complete" in verdict) {
        seat.pending = -1;
        seat.notify(); // its session goes on: file-end, its next file
        continue;
      }
      // One receiver's word must not fail the others: slots the file does
      // not have, or repairs without end, put that receiver out.
      const bad = verdict.ranges.find(([first, count]) =>
        count === 0 || first + count > this.#slots
      );
      if (bad) {
        this.#expel(
          seat,
          new ProtocolError(
            `Receiver asked for slots ${bad[0]}+${
              bad[1]
            } of a ${this.#slots}-slot file`,
          ),
        );
        continue;
      }
      seat.repairAsked += verdict.ranges.reduce((n, [, count]) => n + count, 0);
      const job = this.#job!;
      const repairMs = Math.max(
        REPAIR_MIN_MS,
        REPAIR_PASS_FACTOR * (job.passMs ?? 0),
      );
      const over = ++seat.rounds > MAX_GROUP_ROUNDS
        ? `its repairs of one file did not end in ${MAX_GROUP_ROUNDS} rounds`
        : performance.now() - (job.passEnded ?? Infinity) > repairMs
        ? `its repairs of one file did not end in ${
          Math.round(repairMs / 1000)
        } s`
        : seat.repairAsked > REPAIR_MAX_FILES * this.#slots
        ? `it asked for more than ${REPAIR_MAX_FILES} times the file again`
        : undefined;
      if (over) {
        const reason = over;
        this.#expel(
          seat,
          new NetworkError(`Dropped from the group: ${reason}`, "dropped"),
        );
        this.#options.onEvent?.({
          type: "dropped",
          receiver: seat.name,
          reason,
        });
        continue;
      }
      // A whole file missing while nothing ever came: not its path's loss,
      // the group's datagrams do not reach it.
      if (seat.received === 0 && this.#multicast) {
        this.#unicast(seat, true);
      }
      lists.push({ seat, ranges: verdict.ranges });
    }
    if (this.#seats.every((s) => s.status !== "in")) {
      throw new NetworkError("Every receiver left the group", "network");
    }
    return lists.length === 0 ? { complete: true } : this.#repairs(lists);
  }

  /**
   * Where a pass's repairs go. Through multicast, a slot that several
   * receivers lack goes once to the group, and one that one receiver lacks
   * goes to it alone, so that the others do not receive and open it again
   * (bench/README.md measures this against sending every one to the group).
   * A receiver served by unicast gets the group's anyway, and the rest alone.
   */
  #repairs(
    lists: { seat: Seat; ranges: [number, number][] }[],
  ): PassVerdict {
    const viaGroup = lists.filter((l) => !l.seat.unicast);
    const split = splitRepairs(
      viaGroup.map((l) => ({ ranges: l.ranges, alone: !!l.seat.target })),
      SHARED_REPAIR,
    );
    const alone: { to: Deno.NetAddr; ranges: [number, number][] }[] = [];
    for (const { seat, ranges } of lists) {
      const i = viaGroup.findIndex((l) => l.seat === seat);
      const own = i >= 0 ? split.own[i]! : withoutRanges(ranges, split.shared);
      if (own.length > 0) alone.push({ to: seat.target!, ranges: own });
    }
    return { ranges: split.shared, alone };
  }

  /** Stops the watch and closes the group's socket. */
  close(): void {
    this.#stopWatching();
    clearTimeout(this.#acceptTimer);
    try {
      this.#socket.close();
    } catch {
      // already closed
    }
  }

  /** @internal The sender's statistics for one seat's summary. */
  stats(seat: Seat, done: Done, complete: boolean): UdpStats {
    return senderStats(
      {
        ...this.#path,
        sequence: this.#path.sequence - seat.skipped.total,
        retransmittedBytes: seat.retransmitted,
        sizing: seat.sizing,
        lossy: false,
      },
      done,
      complete,
    );
  }
}

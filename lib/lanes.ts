/**
 * Lanes: one receiver's datagrams spread over several of its UDP ports
 * (PROTOCOL.md section 9.1). Each port is a socket with its own kernel
 * buffer, and Deno cannot enlarge one (no `SO_RCVBUF`): a receiver that is
 * not scheduled for a millisecond overflows a single socket's 208 KiB at
 * 1 Gbit/s, while eight of them hold eight times as long.
 *
 * A port carries the transfer only once the receiver has reported a
 * datagram on it: until then it is sent {@link TRIAL_DATAGRAMS} and no
 * more, so that a firewall that lets only the main port through costs a
 * few datagrams, not a tenth of a second of them. A port that stops
 * receiving is given up the same way, and its slots are repaired through
 * the others.
 *
 * @module
 */

import { PROBE_EVERY } from "./udp_sizing.ts";

/** Datagrams a port is sent before the receiver has reported any on it. */
export const TRIAL_DATAGRAMS = 2;

/**
 * A port is taken for blocked when a report still shows nothing on it
 * after its trial, once the main port has received this many; or, once it
 * carried the transfer, when its count stood still over a report interval
 * in which it was sent this many.
 */
export const DEAD_LANE_DATAGRAMS = 16;

interface Lane {
  port: number;
  /** Reported receiving: it carries its share of the transfer. */
  confirmed: boolean;
  dropped: boolean;
  sent: number;
  /** `sent` at the previous report, and at the one before it. */
  sentAtReport: number;
  sentBefore: number;
  /** What the receiver had counted on it at the previous report. */
  gotAtReport: number;
}

/** The sender's lanes to one receiver: which port each datagram goes to. */
export class Lanes {
  readonly #lanes: Lane[];
  /** The lanes a datagram may go to now (0, the main port, always). */
  #turns: number[] = [];

  /** `main`: the port the connection reached; `extra`: the receiver's other ports. */
  constructor(main: number, extra: readonly number[]) {
    this.#lanes = [main, ...extra].map((port, k) => ({
      port,
      confirmed: k === 0,
      dropped: false,
      sent: 0,
      sentAtReport: 0,
      sentBefore: 0,
      gotAtReport: 0,
    }));
    this.#retune();
  }

  /** Lanes carrying the transfer now (the main port included). */
  get live(): number {
    return this.#lanes.filter((l) => l.confirmed && !l.dropped).length;
  }

  /** Lanes that are not yet, or no longer, carrying it. */
  #retune(): void {
    this.#turns = [];
    for (const [k, lane] of this.#lanes.entries()) {
      const trial = !lane.confirmed && lane.sent < TRIAL_DATAGRAMS;
      if (!lane.dropped && (lane.confirmed || trial)) this.#turns.push(k);
    }
  }

  /**
   * The port the datagram with this sequence number goes to: round the
   * lanes, one step further every 8 datagrams, so that the one-slot probes
   * (every eighth, PROTOCOL.md 9.2) visit every lane too.
   */
  portFor(sequence: number): number {
    const turn = sequence + Math.floor(sequence / PROBE_EVERY);
    const lane = this.#lanes[this.#turns[turn % this.#turns.length]!]!;
    if (++lane.sent === TRIAL_DATAGRAMS && !lane.confirmed) this.#retune();
    return lane.port;
  }

  /**
   * Takes a report: datagrams received in all, and on each extra port (in
   * the order the receiver listed them). Returns the ports given up on.
   */
  report(total: number, received: readonly number[] | undefined): number[] {
    const dropped: number[] = [];
    if (received === undefined) return dropped;
    const main = total - received.reduce((sum, n) => sum + n, 0);
    for (const [k, lane] of this.#lanes.entries()) {
      if (k === 0 || lane.dropped) continue;
      const got = received[k - 1] ?? 0;
      const blocked = lane.confirmed
        ? got === lane.gotAtReport &&
          lane.sentAtReport - lane.sentBefore >= DEAD_LANE_DATAGRAMS
        : got === 0 && lane.sent >= TRIAL_DATAGRAMS &&
          main >= DEAD_LANE_DATAGRAMS;
      if (blocked) {
        lane.dropped = true;
        dropped.push(lane.port);
      } else if (got > 0) lane.confirmed = true;
      lane.sentBefore = lane.sentAtReport;
      lane.sentAtReport = lane.sent;
      lane.gotAtReport = got;
    }
    this.#retune();
    return dropped;
  }
}

/**
 * One sender, many receivers (PROTOCOL.md section 15): the pure parts.
 * The group's address and key, the repair list that serves every receiver
 * at once, the rate the group goes at, and which receivers it gives up on.
 * Sockets and sessions are in lib/group_send.ts.
 *
 * @module
 */

import type { DirectionKey } from "./records.ts";

/** The nonce prefix of a group's datagrams ("UG"): apart from every session key's. */
export const GROUP_NONCE_PREFIX = new Uint8Array([0x55, 0x47, 0, 0]);

/** A group's datagram key: 32 random bytes, the same for every receiver. */
export function groupKey(
  bytes: Uint8Array = crypto.getRandomValues(new Uint8Array(32)),
): DirectionKey & { base64: string } {
  if (bytes.length !== 32) {
    throw new RangeError(`A group key is 32 bytes, not ${bytes.length}`);
  }
  return {
    key: bytes,
    prefix: GROUP_NONCE_PREFIX,
    base64: btoa(String.fromCharCode(...bytes)),
  };
}

/** The key a receiver was given in `udp-request` (base64, checked by the schema). */
export function groupKeyFrom(base64: string): DirectionKey {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return groupKey(bytes);
}

/**
 * A multicast address for one transfer, from 239.255.0.0/16 (IPv4's
 * local scope, RFC 2365): random, so that two groups on one LAN rarely
 * meet, and a datagram of another that does fails its transfer id.
 */
export function groupAddress(
  random: Uint8Array = crypto.getRandomValues(new Uint8Array(2)),
): string {
  const part = (b: number) => 1 + (b % 254);
  return `239.255.${part(random[0]!)}.${part(random[1]!)}`;
}

/** A transfer id for a group: non-zero u32. */
export function groupTransferId(): number {
  for (;;) {
    const id = crypto.getRandomValues(new Uint32Array(1))[0]!;
    if (id !== 0) return id;
  }
}

/**
 * The slots any of the receivers lacks, as sorted, merged `[first, count]`
 * ranges: one repair to the group serves all of them (a receiver that has
 * a slot already ignores it as a duplicate).
 */
export function unionRanges(
  lists: readonly (readonly (readonly [number, number])[])[],
): [number, number][] {
  const all = lists.flat().filter(([, count]) => count > 0)
    .map(([first, count]) => [first, first + count] as [number, number])
    .sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  let current: [number, number] | undefined;
  for (const [from, to] of all) {
    if (current && from <= current[1]) {
      current[1] = Math.max(current[1], to);
    } else {
      if (current) out.push(current);
      current = [from, to];
    }
  }
  if (current) out.push(current);
  return out.map(([from, to]) => [from, to - from]);
}

/** One receiver's missing slots at the end of a pass, and whether it can be sent to alone. */
export interface RepairList {
  ranges: readonly (readonly [number, number])[];
  /** False: it has no address of its own (its repairs go to the group). */
  alone: boolean;
}

/** Where a pass's repairs go: to the whole group, and to each receiver alone. */
export interface RepairSplit {
  /** Slots for everyone (sorted, merged `[first, count]` ranges). */
  shared: [number, number][];
  /** For each list, in order: its slots that are not in {@link shared}. */
  own: [number, number][][];
}

/**
 * Splits the receivers' missing slots between the group and each receiver
 * alone: a slot that at least `least` of them lack goes once to the group
 * (it reaches all of them), one fewer lack goes to each of those alone, so
 * that the others neither receive nor decrypt it. A receiver that cannot
 * be reached alone has all its slots sent to the group. `least` 1 sends
 * everything to the group; `Infinity`, everything alone.
 */
export function splitRepairs(
  lists: readonly RepairList[],
  least: number,
): RepairSplit {
  // How many lists lack each stretch of slots: +1 where a range begins, -1 where it ends.
  const edges = new Map<number, number>();
  for (const { ranges } of lists) {
    for (const [first, count] of ranges) {
      if (count <= 0) continue;
      edges.set(first, (edges.get(first) ?? 0) + 1);
      edges.set(first + count, (edges.get(first + count) ?? 0) - 1);
    }
  }
  const points = [...edges.keys()].sort((a, b) => a - b);
  const many: [number, number][] = [];
  let depth = 0;
  for (let i = 0; i < points.length - 1; i++) {
    depth += edges.get(points[i]!)!;
    if (depth >= least) many.push([points[i]!, points[i + 1]! - points[i]!]);
  }
  const shared = unionRanges([
    many,
    ...lists.filter((l) => !l.alone).map((l) => l.ranges),
  ]);
  return { shared, own: lists.map((l) => withoutRanges(l.ranges, shared)) };
}

/** The slots of `ranges` that are not in `remove` (sorted, merged, both). */
export function withoutRanges(
  ranges: readonly (readonly [number, number])[],
  remove: readonly (readonly [number, number])[],
): [number, number][] {
  const out: [number, number][] = [];
  let j = 0;
  for (const [first, count] of unionRanges([ranges])) {
    let from = first;
    const to = first + count;
    while (j < remove.length && remove[j]![0] + remove[j]![1] <= from) j++;
    for (let k = j; k < remove.length && remove[k]![0] < to; k++) {
      const [rFirst, rCount] = remove[k]!;
      if (rFirst > from) out.push([from, rFirst - from]);
      from = Math.max(from, rFirst + rCount);
    }
    if (from < to) out.push([from, to - from]);
  }
  return out;
}

/**
 * The sequence numbers a receiver was not sent (repairs to others alone),
 * so that its reports, which count up to the highest number it saw, do not
 * show them as lost. Stretches come in increasing order; reports too.
 */
export class SkippedSequences {
  #open: [number, number][] = [];
  /** Skipped numbers below the latest report, folded. */
  #below = 0;
  #total = 0;

  /** Numbers `from` to `end` (excluded) went to others alone. */
  skip(from: number, end: number): void {
    if (end <= from) return;
    this.#open.push([from, end]);
    this.#total += end - from;
  }

  /** How many were skipped in all. */
  get total(): number {
    return this.#total;
  }

  /** How many of the numbers under `expected` were skipped. */
  under(expected: number): number {
    while (this.#open.length > 0 && this.#open[0]![1] <= expected) {
      const [from, end] = this.#open.shift()!;
      this.#below += end - from;
    }
    let n = this.#below;
    for (const [from, end] of this.#open) {
      if (from >= expected) break;
      n += Math.min(end, expected) - from;
    }
    return n;
  }
}

/** When a receiver counts as holding the others back, or as gone. */
export interface SlowRule {
  /** Below this rate (bit/s) a receiver is slow, even alone. @default {0} */
  floor: number;
  /**
   * Or, beside others, below this share of the most the group has carried
   * to a receiver (over a second). @default {0.25}
   */
  share: number;
  /** For this long without a break (ms). @default {3000} */
  graceMs: number;
  /** A receiver not heard from (no report) for this long is gone (ms). @default {5000} */
  silentMs: number;
}

/** The rule pasa applies to a group (`--min-rate` sets the floor). */
export const SLOW_RULE: SlowRule = {
  floor: 0,
  share: 0.25,
  graceMs: 3000,
  silentMs: 5000,
};

/** How a receiver of a group is doing, as its reports show. */
export interface MemberPace {
  /** The rate its own controller allows (bit/s): the group goes at the least of these. */
  rate: number;
  /** When its last report came (ms). */
  heardAt: number;
}

/** A receiver the group gives up on, and why. */
export interface Laggard {
  name: string;
  why: "slow" | "silent";
}

/**
 * Names the receivers that hold the others back: each one's own controller
 * finds what its path takes, and the group goes at the slowest. One that
 * stayed under a quarter of the best the group carried (or under the
 * floor) for the grace time is slow; one that sent no report for
 * `silentMs` is gone. Beside no others, only the floor makes one slow:
 * there is nobody to free.
 */
export class SlowWatch {
  #rule: SlowRule;
  #since = new Map<string, number>();

  constructor(rule: SlowRule = SLOW_RULE) {
    this.#rule = rule;
  }

  /** `best`: the most the group carried to one receiver over a second (bit/s). */
  update(
    now: number,
    members: ReadonlyMap<string, MemberPace>,
    best: number,
  ): Laggard[] {
    const out: Laggard[] = [];
    for (const name of [...this.#since.keys()]) {
      if (!members.has(name)) this.#since.delete(name);
    }
    const relative = members.size > 1 ? this.#rule.share * best : 0;
    const least = Math.max(this.#rule.floor, relative);
    for (const [name, pace] of members) {
      if (now - pace.heardAt >= this.#rule.silentMs) {
        out.push({ name, why: "silent" });
        continue;
      }
      if (pace.rate >= least) {
        this.#since.delete(name);
        continue;
      }
      const since = this.#since.get(name) ?? now;
      this.#since.set(name, since);
      if (now - since >= this.#rule.graceMs) out.push({ name, why: "slow" });
    }
    return out;
  }
}

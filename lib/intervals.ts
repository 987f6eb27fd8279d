/**
 * Throughput per reporting interval, as iperf3 reports it: intervals begin
 * when the first body byte moves (connecting and pairing are not the
 * network's time), and a last interval too short to mean anything is
 * folded into the one before, so a chart does not end in a spike or a drop.
 * Pure: the caller gives the clock.
 *
 * @module
 */

import { rate } from "./units.ts";

/** Throughput over one reporting interval. */
export interface Interval {
  /** Seconds since the run's first body byte moved. */
  start: number;
  end: number;
  bytes: number;
  bitsPerSecond: number;
}

/** Cuts a run's byte count into intervals of about `periodSeconds`. */
export class IntervalRecorder {
  readonly intervals: Interval[] = [];
  #period: number;
  #start = -1;
  #lastTime = 0;
  #lastBytes = 0;

  constructor(periodSeconds: number) {
    this.#period = periodSeconds;
  }

  /**
   * Closes an interval at `now` (ms) with `bytes` moved so far; nothing
   * before `dataStart` (ms, negative while no body byte has moved).
   * Returns the interval closed, if any.
   */
  sample(now: number, bytes: number, dataStart: number): Interval | undefined {
    if (dataStart < 0) return undefined;
    if (this.#start < 0) {
      this.#start = dataStart;
      this.#lastTime = dataStart;
    }
    const seconds = (now - this.#lastTime) / 1000;
    if (seconds <= 0) return undefined;
    const interval: Interval = {
      start: (this.#lastTime - this.#start) / 1000,
      end: (now - this.#start) / 1000,
      bytes: bytes - this.#lastBytes,
      bitsPerSecond: rate((bytes - this.#lastBytes) * 8, seconds),
    };
    this.intervals.push(interval);
    this.#lastTime = now;
    this.#lastBytes = bytes;
    return interval;
  }

  /**
   * The last sample; an interval under half a period joins the one before
   * it. Returns the interval closed (before any folding), if any.
   */
  finish(now: number, bytes: number, dataStart: number): Interval | undefined {
    const last = this.sample(now, bytes, dataStart);
    const n = this.intervals.length;
    if (n >= 2) {
      const tail = this.intervals[n - 1]!;
      if (tail.end - tail.start < this.#period / 2) {
        const before = this.intervals[n - 2]!;
        const bytes = before.bytes + tail.bytes;
        this.intervals.splice(n - 2, 2, {
          start: before.start,
          end: tail.end,
          bytes,
          bitsPerSecond: rate(bytes * 8, tail.end - before.start),
        });
      }
    }
    return last;
  }
}

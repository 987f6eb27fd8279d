/**
 * Progress for `--json`: a `progress` event at most once a period while a
 * transfer runs, however many files it has (a `file` event still follows
 * each file confirmed). The rate is over the bytes that moved since the
 * event before.
 *
 * @module
 */

import type { TransferState } from "./session.ts";
import { rate } from "./units.ts";

/** One `progress` event's members. */
export interface ProgressEvent {
  /** Files in the manifest. */
  files: number;
  /** The file in flight, counted from 1 (0 before the first). */
  file: number;
  /** Its name on the wire. */
  name: string;
  /** Bytes of all files moved so far (resumed ones included). */
  bytes: number;
  /** Their total; null while a size is unknown. */
  totalBytes: number | null;
  /** Over the bytes that moved since the last event. */
  bytesPerSecond: number;
}

/** The event for `state` now, given the bytes and time of the one before. */
export function progressEvent(
  state: TransferState,
  before: { bytes: number; at: number },
  now: number,
): ProgressEvent {
  return {
    files: state.files,
    file: state.index + 1,
    name: state.name,
    bytes: state.doneBytes,
    totalBytes: state.totalBytes,
    bytesPerSecond: rate(
      state.doneBytes - before.bytes,
      (now - before.at) / 1000,
    ),
  };
}

/** Emits a {@link ProgressEvent} every `periodMs` once a body has started. */
export class ProgressTicker {
  #state: TransferState;
  #emit: (e: ProgressEvent) => void;
  #period: number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #before = { bytes: 0, at: 0 };

  constructor(
    state: TransferState,
    emit: (e: ProgressEvent) => void,
    periodMs = 1000,
  ) {
    this.#state = state;
    this.#emit = emit;
    this.#period = periodMs;
  }

  start(): void {
    this.#before = { bytes: this.#state.doneBytes, at: performance.now() };
    this.#timer = setInterval(() => {
      if (this.#state.startedAt < 0) return; // nothing moving yet
      const now = performance.now();
      this.#emit(progressEvent(this.#state, this.#before, now));
      this.#before = { bytes: this.#state.doneBytes, at: now };
    }, this.#period);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

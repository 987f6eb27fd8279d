/**
 * The progress bar: {@link renderProgress} is a pure function of a
 * snapshot and a width; {@link ProgressBar} samples a {@link TransferState}
 * a few times a second and redraws one terminal line.
 *
 * @module
 */

import { displayName } from "./names.ts";
import type { TransferState } from "./session.ts";
import { formatBytes, formatDuration, formatRate } from "./units.ts";

/** What one frame of the bar shows. */
export interface ProgressSnapshot {
  /** 0-based index of the file in flight, and the number of files. */
  index: number;
  files: number;
  name: string;
  fileBytes: number;
  fileSize: number | null;
  doneBytes: number;
  totalBytes: number | null;
  /** Smoothed bytes per second. */
  rate: number;
}

function bar(fraction: number, width: number): string {
  const f = Math.min(1, Math.max(0, fraction));
  const full = Math.floor(f * width);
  return "█".repeat(full) + "░".repeat(width - full);
}

function percent(part: number, whole: number | null): string {
  if (whole === null) return "";
  const p = whole === 0 ? 100 : Math.floor((part / whole) * 100);
  return `${Math.min(100, p)}%`;
}

function fit(text: string, width: number): string {
  const chars = [...text];
  if (chars.length <= width) return text.padEnd(width);
  return width <= 1
    ? "…".slice(0, width)
    : chars.slice(0, width - 1).join("") + "…";
}

/**
 * Renders one line of at most `width` columns:
 * `[2/3] name 45% [████░░░░] 62% 1.2 GiB/2.0 GiB 410 MB/s ETA 3 s`.
 * With an unknown total the bar and ETA give way to bytes and rate.
 */
export function renderProgress(s: ProgressSnapshot, width: number): string {
  // One file of unknown size: the total already says how much has moved.
  const filePart = s.fileSize !== null
    ? percent(s.fileBytes, s.fileSize)
    : s.totalBytes === null && s.files <= 1
    ? ""
    : formatBytes(s.fileBytes);
  const count = s.files > 1
    ? `[${Math.min(s.index + 1, s.files)}/${s.files}] `
    : "";
  let tail: string;
  let fraction: number | null = null;
  if (s.totalBytes === null) {
    tail = `${formatBytes(s.doneBytes)} ${formatRate(s.rate)}`;
  } else {
    fraction = s.totalBytes === 0 ? 1 : s.doneBytes / s.totalBytes;
    const left = s.totalBytes - s.doneBytes;
    const eta = s.rate > 0 ? formatDuration(left / s.rate) : "--";
    tail = `${percent(s.doneBytes, s.totalBytes)} ${formatBytes(s.doneBytes)}/${
      formatBytes(s.totalBytes)
    } ${formatRate(s.rate)} ETA ${eta}`;
  }
  const head = `${count}${displayName(s.name)}${
    filePart ? ` ${filePart}` : ""
  }`;
  const barWidth = fraction === null
    ? 0
    : Math.min(30, width - tail.length - 24);
  const barText = barWidth >= 8 ? ` [${bar(fraction!, barWidth)}] ` : " ";
  const room = Math.max(8, width - barText.length - tail.length);
  const line = `${fit(head, Math.min(room, head.length))}${barText}${tail}`;
  return [...line].length > width ? fit(line, width) : line;
}

/** Options of {@link ProgressBar}. */
export interface ProgressBarOptions {
  /** Writes text to the terminal (stderr). */
  write: (text: string) => void;
  /** Current terminal width. @default {() => 80} */
  columns?: () => number;
  /** Redraw period in milliseconds. @default {100} */
  intervalMs?: number;
}

/** A self-redrawing one-line progress bar. */
export class ProgressBar {
  #state: TransferState;
  #options: ProgressBarOptions;
  #timer: ReturnType<typeof setInterval> | undefined;
  #lastBytes = 0;
  #lastTime = 0;
  #rate = 0;
  #drawn = false;

  constructor(state: TransferState, options: ProgressBarOptions) {
    this.#state = state;
    this.#options = options;
  }

  /** Starts redrawing. */
  start(): void {
    this.#lastTime = performance.now();
    this.#timer = setInterval(
      () => this.#draw(),
      this.#options.intervalMs ?? 100,
    );
  }

  #draw(): void {
    const s = this.#state;
    if (s.index < 0) return;
    const now = performance.now();
    const dt = (now - this.#lastTime) / 1000;
    if (dt > 0) {
      const instant = (s.doneBytes - this.#lastBytes) / dt;
      // Exponential smoothing keeps the rate and ETA from jumping every frame.
      this.#rate = this.#rate === 0
        ? instant
        : this.#rate * 0.8 + instant * 0.2;
    }
    this.#lastBytes = s.doneBytes;
    this.#lastTime = now;
    const width = Math.max(20, (this.#options.columns?.() ?? 80) - 1);
    const line = renderProgress({
      index: s.index,
      files: s.files,
      name: s.name,
      fileBytes: s.fileBytes,
      fileSize: s.fileSize,
      doneBytes: s.doneBytes,
      totalBytes: s.totalBytes,
      rate: this.#rate,
    }, width);
    this.#options.write(`\r${line}\x1b[K`);
    this.#drawn = true;
  }

  /** Erases the bar until its next redraw, so other text can be printed. */
  clear(): void {
    if (this.#drawn) this.#options.write("\r\x1b[K");
    this.#drawn = false;
  }

  /** Stops and erases the bar. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.clear();
  }
}

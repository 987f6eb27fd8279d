/**
 * A connection with an idle time-out: if no byte moves in either direction
 * for `timeoutMs`, the connection is closed and the pending read or write
 * fails with a {@link TimeoutError}. OS errors become {@link NetworkError}s.
 *
 * @module
 */

import {
  InterruptedError,
  NetworkError,
  PasaError,
  TimeoutError,
} from "./errors.ts";
import type { ByteSink, ByteSource } from "./frames.ts";
import type { DatagramKeys } from "./records.ts";
import type { Pairing } from "./secure.ts";

/** How long an interrupted side may write before its connection is closed. */
export const INTERRUPT_GRACE_MS = 1000;

/** What a link needs from a connection; `Deno.Conn` has it all. */
export interface Connection extends ByteSource, ByteSink {
  closeWrite(): Promise<void>;
  close(): void;
}

/** Options of {@link Link}. */
export interface LinkOptions {
  /**
   * Close the connection after this long without traffic; 0 disables it.
   * @default {60000}
   */
  timeoutMs?: number;
  /** Closes the connection when aborted (Ctrl-C). */
  signal?: AbortSignal;
  /** Pair with this code and encrypt; without it the session is `--insecure`. */
  pairing?: Pairing;
}

/** A connection guarded by an idle watchdog. */
export class Link implements Connection {
  #conn: Connection;
  /** How this side pairs; undefined for an `--insecure` (or raw) session. */
  readonly pairing: Pairing | undefined;
  /** Keys for datagrams, once the session is secured (see secure.ts). */
  datagramKeys: DatagramKeys | undefined;
  #activity = 0;
  #seen = -1;
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  #timedOut = false;
  /** What the deadline that fired was for, if one did. */
  #doing: string | undefined;
  #interrupted = false;
  /** Rejects once interrupted: what every read waits on beside the connection. */
  #stopped: Promise<never> | undefined;
  #stop: ((error: unknown) => void) | undefined;
  #timeoutMs: number;
  #signal: AbortSignal | undefined;
  #onAbort = () => {
    // Reads stop at once; writes go on for a moment, so that the session
    // can end what it is writing and say why it stops (an `error` frame),
    // and then the connection is closed whatever happens.
    this.#interrupted = true;
    this.#stop?.(new InterruptedError());
    setTimeout(() => this.close(), INTERRUPT_GRACE_MS);
  };

  constructor(conn: Connection, options: LinkOptions = {}) {
    this.#conn = conn;
    this.pairing = options.pairing;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    this.#signal = options.signal;
    if (this.#signal) {
      this.#stopped = new Promise<never>((_, reject) => this.#stop = reject);
      this.#stopped.catch(() => {}); // reads that race it observe it
    }
    if (this.#timeoutMs > 0) {
      // Checking a counter a few times per period keeps the hot path free of timers.
      const tick = Math.max(50, Math.floor(this.#timeoutMs / 4));
      let idleSince = performance.now();
      this.#timer = setInterval(() => {
        if (this.#activity !== this.#seen) {
          this.#seen = this.#activity;
          idleSince = performance.now();
        } else if (performance.now() - idleSince >= this.#timeoutMs) {
          this.#timedOut = true;
          this.close();
        }
      }, tick);
    }
    this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
    if (this.#signal?.aborted) this.#onAbort();
  }

  /** The connection underneath: the socket, or the record layer over it. */
  get conn(): Connection {
    return this.#conn;
  }

  /**
   * From now on, reads and writes go through `layer` (the encrypted record
   * layer), which wraps the connection used so far.
   */
  secure(
    layer: (raw: Connection) => Connection,
    datagramKeys: DatagramKeys,
  ): void {
    this.#conn = layer(this.#conn);
    this.datagramKeys = datagramKeys;
  }

  /**
   * Rejects with an {@link InterruptedError} on Ctrl-C (never without a
   * signal): for waits that are not the connection's (standard input).
   */
  get interruption(): Promise<never> {
    return this.#stopped ?? new Promise<never>(() => {});
  }

  /** Whether the watchdog closed the connection. */
  get timedOut(): boolean {
    return this.#timedOut;
  }

  /**
   * Gives `what` (e.g. the handshake) at most the time-out in all, however
   * slowly bytes trickle in. Returns the function that lifts the deadline.
   */
  deadline(what: string): () => void {
    if (this.#timeoutMs <= 0) return () => {};
    const timer = setTimeout(() => {
      this.#timedOut = true;
      this.#doing = what;
      this.close();
    }, this.#timeoutMs);
    return () => clearTimeout(timer);
  }

  /**
   * Throws as a read would (time-out, Ctrl-C) if the connection was closed:
   * for long work between reads that must stop with the connection.
   */
  ensureOpen(doing: string): void {
    if (this.#closed || this.#interrupted) {
      this.#fail(new Error("the connection is closed"), doing);
    }
  }

  /** Marks activity that is not a read or write (e.g. the peer is busy syncing). */
  touch(): void {
    this.#activity++;
  }

  #fail(error: unknown, doing: string): never {
    if (this.#interrupted) throw new InterruptedError();
    if (this.#timedOut) {
      throw new TimeoutError(
        this.#doing
          ? `Connection timed out: the peer took over ${
            this.#timeoutMs / 1000
          } s for ${this.#doing}`
          : `Connection timed out: no data for ${
            this.#timeoutMs / 1000
          } s while ${doing}`,
      );
    }
    // The record layer's own verdicts (a forged record) pass through as they are.
    if (error instanceof PasaError) throw error;
    const detail = error instanceof Error ? error.message : String(error);
    throw new NetworkError(
      `Connection failed while ${doing}: ${detail}`,
      "network",
      {
        cause: error,
      },
    );
  }

  async read(p: Uint8Array): Promise<number | null> {
    try {
      if (this.#interrupted) throw new InterruptedError();
      const n = await (this.#stopped
        ? Promise.race([this.#conn.read(p), this.#stopped])
        : this.#conn.read(p));
      this.#activity++;
      return n;
    } catch (error) {
      this.#fail(error, "reading");
    }
  }

  async write(p: Uint8Array): Promise<number> {
    try {
      const n = await this.#conn.write(p);
      this.#activity++;
      return n;
    } catch (error) {
      this.#fail(error, "writing");
    }
  }

  /**
   * Writes without counting as activity: for periodic frames (UDP reports)
   * that would otherwise keep a link to a vanished peer alive forever.
   */
  async quietWrite(p: Uint8Array): Promise<number> {
    try {
      return await this.#conn.write(p);
    } catch (error) {
      this.#fail(error, "writing");
    }
  }

  async closeWrite(): Promise<void> {
    try {
      await this.#conn.closeWrite();
    } catch {
      // already closed or reset: nothing left to flush
    }
  }

  /** Closes the connection and stops the watchdog; safe to call twice. */
  close(): void {
    clearInterval(this.#timer);
    this.#signal?.removeEventListener("abort", this.#onAbort);
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

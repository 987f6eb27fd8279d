/**
 * A sender waiting with `--listen`: connections get through their hellos
 * and pairing side by side (16 at most, 10 s each), so one that never does
 * (a port scan, an HTTP request, garbage, a peer that stops) delays
 * nobody. What to do with a connection that paired, or failed, is the
 * caller's: one receiver (lib/commands.ts) or a group
 * (lib/group_command.ts).
 *
 * @module
 */

import { AuthError, TimeoutError } from "./errors.ts";
import { FrameReader } from "./frames.ts";
import { Link } from "./link.ts";
import { accept, type Runtime } from "./runtime.ts";
import type { Pairing } from "./secure.ts";
import { handshake, hangUp, shouldReport, withDeadline } from "./session.ts";
import { peerName } from "./tcp.ts";

/**
 * Whether `error` is a pairing that failed: a wrong code (or a peer that
 * guessed one), which ends a side that gives one guess. What fails before
 * the pairing (another role or version, `--insecure` on one side, a
 * stranger) is said in an unauthenticated hello that anyone can send: it
 * never ends a waiting side.
 */
export function failedPairing(error: unknown): boolean {
  return error instanceof AuthError &&
    ["auth", "locked"].includes(error.code);
}

/** How long a connection has to get through the hellos and the pairing. */
export const HANDSHAKE_WAIT_MS = 10_000;
/** Connections that pair at once; past that the oldest is let go. */
export const PAIRING_AT_ONCE = 16;

/** A connection to the waiting sender, and what it read. */
export interface Incoming {
  conn: Deno.Conn;
  link: Link;
  frames: FrameReader;
  peer: string;
}

/** What the caller does with each connection. */
export interface PairingsHandlers {
  /** It paired (the link is encrypted, or `--insecure` said hello). */
  paired(incoming: Incoming): void;
  /**
   * It failed before pairing; `refused` for a pairing that failed (a wrong
   * code: {@link failedPairing}). Called before it is told why and let go.
   */
  failed(incoming: Incoming, error: unknown, refused: boolean): void;
  /** After a failed one was told why and closed. */
  closed?(incoming: Incoming, error: unknown, refused: boolean): void;
  /** Taking connections failed (Ctrl-C closes the listener). */
  stopped(error: unknown): void;
}

/**
 * Takes connections on `listener` until {@link stop}, each with a link of
 * the send's time-out, Ctrl-C and `pairing`. Returns the stop function: it
 * closes every connection still pairing.
 */
export function takePairings(
  listener: Deno.Listener,
  settings: { timeoutMs: number; rt: Runtime; pairing: Pairing | undefined },
  on: PairingsHandlers,
): () => void {
  const trying = new Set<Incoming>();
  let over = false;
  const stop = () => {
    over = true;
    for (const t of trying) t.link.close();
  };
  const pairOne = async (p: Incoming) => {
    const shaking = handshake(p.link, p.frames, "sender");
    shaking.catch(() => {}); // awaited below; after a deadline, ended by the close
    try {
      await withDeadline(shaking, HANDSHAKE_WAIT_MS).catch((error) => {
        if ((error as Error).message !== "deadline passed") throw error;
        throw new TimeoutError(
          `it did not pair within ${HANDSHAKE_WAIT_MS / 1000} s`,
        );
      });
      trying.delete(p);
      if (over) return p.link.close();
      on.paired(p);
    } catch (error) {
      trying.delete(p);
      if (over) return p.link.close();
      const refused = failedPairing(error);
      on.failed(p, error, refused);
      if (over) return p.link.close();
      // Told why, as a receiver would be; a stranger briefly.
      await hangUp(p.link, {
        report: shouldReport(error) ? error : undefined,
        lingerMs: refused ? 2000 : 500,
      });
      p.link.close();
      on.closed?.(p, error, refused);
    }
  };
  (async () => {
    while (!over) {
      let conn: Deno.Conn;
      try {
        conn = await accept(
          listener,
          settings.rt.signal,
          undefined,
          () => over,
        );
      } catch (error) {
        if (!over) on.stopped(error);
        return;
      }
      if (over) return conn.close();
      if (trying.size >= PAIRING_AT_ONCE) {
        const oldest = trying.values().next().value!;
        trying.delete(oldest);
        oldest.link.close();
      }
      const link = new Link(conn, {
        timeoutMs: settings.timeoutMs,
        signal: settings.rt.signal,
        ...(settings.pairing ? { pairing: settings.pairing } : {}),
      });
      const p = {
        conn,
        link,
        frames: new FrameReader(link, { bufferSize: 128 * 1024 }),
        peer: peerName(conn),
      };
      trying.add(p);
      pairOne(p);
    }
  })();
  return stop;
}

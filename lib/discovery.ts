/**
 * Finding the other machine by its code alone (PROTOCOL.md section 12): the
 * side that listens (a receiver, or a sender with `--listen`) announces the
 * public part of its code, the nameplate (the number in `603-badge-nutmeg`),
 * its role and port, once a second, by IPv4 multicast on the local network;
 * the other side, holding the code, listens for that nameplate and role and
 * connects to whoever announced it. The words stay secret: nothing
 * announced is derived from them, so an eavesdropper can test no guess
 * offline, and the pairing (SPAKE2) still decides.
 *
 * @module
 */

import { NetworkError } from "./errors.ts";
import { formatAddress } from "./tcp.ts";

/** Where announcements go: an organisation-local IPv4 group, and its port. */
export const DISCOVERY_GROUP = "239.255.77.77";
export const DISCOVERY_PORT = 9009;
/** How often a listening side announces itself. */
export const ANNOUNCE_INTERVAL_MS = 1000;
/** How long a sender looks before it gives up. */
export const DISCOVERY_TIMEOUT_MS = 3000;

/** Which side announces: the one that listens. */
export type AnnouncedRole = "receiver" | "sender";

/** What a listening side says about itself. */
export interface Announcement {
  role: AnnouncedRole;
  /** The code's public part: its leading number. */
  nameplate: string;
  /** The TCP port it listens on. */
  port: number;
  /** Whether it also takes UDP transfers (a receiver's; a sender says false). */
  udp: boolean;
}

/** A code's nameplate: its leading number (`603` of `603-badge-nutmeg`), or null. */
export function nameplateOf(code: string): string | null {
  const m = /^(\d{1,9})-./.exec(code);
  return m ? m[1]! : null;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** An announcement as sent: a small JSON object. */
export function encodeAnnouncement(a: Announcement): Uint8Array {
  return encoder.encode(JSON.stringify({ pasa: 1, ...a }));
}

/** An announcement received, or null for anything else (never trusted further). */
export function decodeAnnouncement(bytes: Uint8Array): Announcement | null {
  if (bytes.length > 512) return null;
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(decoder.decode(bytes));
  } catch {
    return null;
  }
  if (typeof o !== "object" || o === null || o.pasa !== 1) return null;
  if (o.role !== "receiver" && o.role !== "sender") return null;
  if (typeof o.nameplate !== "string" || !/^\d{1,9}$/.test(o.nameplate)) {
    return null;
  }
  const port = o.port;
  if (
    typeof port !== "number" || !Number.isInteger(port) || port < 1 ||
    port > 65535
  ) return null;
  return {
    role: o.role,
    nameplate: o.nameplate,
    port,
    udp: o.udp === true,
  };
}

/** Sends an announcement now and every second until stopped. */
export class Announcer {
  #socket: Deno.DatagramConn;
  #timer: ReturnType<typeof setInterval> | undefined;
  #data: Uint8Array;
  #onFailure: (why: string) => void;
  #stopped = false;

  private constructor(
    socket: Deno.DatagramConn,
    data: Uint8Array,
    onFailure: (why: string) => void,
  ) {
    this.#socket = socket;
    this.#data = data;
    this.#onFailure = onFailure;
  }

  /**
   * Starts announcing `a`; `onFailure` hears, once, why it cannot (no
   * multicast route, say), and announcing stops then.
   */
  static start(a: Announcement, onFailure: (why: string) => void): Announcer {
    const socket = Deno.listenDatagram({
      hostname: "0.0.0.0",
      port: 0,
      transport: "udp",
    });
    const announcer = new Announcer(socket, encodeAnnouncement(a), onFailure);
    announcer.#send();
    announcer.#timer = setInterval(
      () => announcer.#send(),
      ANNOUNCE_INTERVAL_MS,
    );
    return announcer;
  }

  #send(): void {
    this.#socket.send(this.#data, {
      hostname: DISCOVERY_GROUP,
      port: DISCOVERY_PORT,
      transport: "udp",
    }).catch((error) => {
      if (this.#stopped) return;
      this.stop();
      this.#onFailure((error as Error).message);
    });
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
    try {
      this.#socket.close();
    } catch { /* closed */ }
  }
}

/** A side found on the network. */
export interface Found {
  hostname: string;
  port: number;
}

/**
 * Listens for sides in `role` (receivers, unless told) announcing
 * `nameplate`, for up to `timeoutMs` (forever: `Infinity`, until `signal`).
 * Once one is heard, it listens one interval more, so that two with the
 * same nameplate are both seen (the caller then asks for an address rather
 * than try the wrong one). Returns every one heard.
 */
export async function discover(
  nameplate: string,
  options: {
    role?: AnnouncedRole;
    timeoutMs?: number;
    signal?: AbortSignal;
  } = {},
): Promise<Found[]> {
  const role = options.role ?? "receiver";
  let socket: Deno.DatagramConn;
  try {
    socket = Deno.listenDatagram({
      hostname: "0.0.0.0",
      port: DISCOVERY_PORT,
      transport: "udp",
      reuseAddress: true,
      loopback: true,
    });
    await socket.joinMulticastV4(DISCOVERY_GROUP, "0.0.0.0");
  } catch (error) {
    throw new NetworkError(
      `Cannot look for the ${role} on this network (${
        (error as Error).message
      }): give its address with --to`,
      "discovery",
      { cause: error },
    );
  }
  const found = new Map<string, Found>();
  let end = performance.now() + (options.timeoutMs ?? DISCOVERY_TIMEOUT_MS);
  const stop = () => {
    try {
      socket.close();
    } catch { /* closed */ }
  };
  // A timer of Infinity would fire at once: none, and the signal ends it.
  let timer = Number.isFinite(end)
    ? setTimeout(stop, end - performance.now())
    : undefined;
  options.signal?.addEventListener("abort", stop, { once: true });
  if (options.signal?.aborted) stop();
  try {
    for await (const [data, from] of socket) {
      const a = decodeAnnouncement(data);
      const addr = from as Deno.NetAddr;
      if (a?.nameplate !== nameplate || a.role !== role) continue;
      const hit = { hostname: addr.hostname, port: a.port };
      found.set(formatAddress(hit.hostname, hit.port), hit);
      if (found.size === 1) {
        // One more interval, for a second receiver with the same nameplate.
        const soon = performance.now() + ANNOUNCE_INTERVAL_MS + 200;
        if (soon < end) {
          end = soon;
          clearTimeout(timer);
          timer = setTimeout(stop, end - performance.now());
        }
      }
    }
  } catch {
    // closed: the time is up
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", stop);
    stop();
  }
  return [...found.values()];
}

/**
 * Finding the other machine by its code alone (PROTOCOL.md section 12): the
 * side that listens (a receiver, or a sender with `--listen`) announces the
 * public part of its code, the nameplate (the number in `603-badge-nutmeg`),
 * its role and port, once a second, by multicast on the local network (IPv4,
 * and IPv6 link-local on every interface that has an IPv6 link-local address);
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
/** The IPv6 group, link-local scope (`pasa` in its last 32 bits), same port. */
export const DISCOVERY_GROUP_V6 = "ff02::7061:7361";
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
  /**
   * 16 hex digits drawn at random by the announcing process, the same on
   * IPv4 and IPv6, so that one side heard on both is counted once.
   */
  id?: string;
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
  const id = o.id;
  if (
    id !== undefined && (typeof id !== "string" || !/^[0-9a-f]{16}$/.test(id))
  ) {
    return null;
  }
  return {
    role: o.role,
    nameplate: o.nameplate,
    port,
    udp: o.udp === true,
    ...(id !== undefined ? { id } : {}),
  };
}

/** An interface an IPv6 link-local announcement can leave by: its name and index. */
export interface LinkLocal {
  name: string;
  index: number;
}

/** This machine's interfaces with an IPv6 link-local address (none if it cannot tell). */
export function linkLocalInterfaces(): LinkLocal[] {
  let list: Deno.NetworkInterfaceInfo[];
  try {
    list = Deno.networkInterfaces();
  } catch {
    return [];
  }
  const byIndex = new Map<number, string>();
  for (const i of list) {
    if (
      i.family === "IPv6" && /^fe80:/i.test(i.address) && i.scopeid
    ) byIndex.set(i.scopeid, i.name);
  }
  return [...byIndex].map(([index, name]) => ({ name, index }));
}

/** A new announcer id: 64 random bits as 16 hex digits. */
function newId(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(8)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

/** Sends an announcement now and every second until stopped. */
export class Announcer {
  #v4: Deno.DatagramConn;
  #v6: Deno.DatagramConn | undefined;
  #interfaces: LinkLocal[];
  #timer: ReturnType<typeof setInterval> | undefined;
  #data: Uint8Array;
  #onFailure: (why: string) => void;
  #v4Failed = false;
  #stopped = false;

  private constructor(
    data: Uint8Array,
    onFailure: (why: string) => void,
  ) {
    this.#data = data;
    this.#onFailure = onFailure;
    this.#v4 = Deno.listenDatagram({
      hostname: "0.0.0.0",
      port: 0,
      transport: "udp",
    });
    this.#interfaces = linkLocalInterfaces();
    try {
      this.#v6 = this.#interfaces.length > 0
        ? Deno.listenDatagram({ hostname: "::", port: 0, transport: "udp" })
        : undefined;
    } catch {
      this.#v6 = undefined; // no IPv6 here
    }
  }

  /**
   * Starts announcing `a` (with a new id, unless it has one) over IPv4 and
   * on every IPv6 link-local interface; `onFailure` hears, once, why it
   * cannot (no IPv4 multicast route, say, and no IPv6 interface to fall
   * back on), and announcing stops then.
   */
  static start(a: Announcement, onFailure: (why: string) => void): Announcer {
    const announcer = new Announcer(
      encodeAnnouncement({ ...a, id: a.id ?? newId() }),
      onFailure,
    );
    announcer.#send();
    announcer.#timer = setInterval(
      () => announcer.#send(),
      ANNOUNCE_INTERVAL_MS,
    );
    return announcer;
  }

  #send(): void {
    if (!this.#v4Failed) {
      this.#v4.send(this.#data, {
        hostname: DISCOVERY_GROUP,
        port: DISCOVERY_PORT,
        transport: "udp",
      }).catch((error) => {
        if (this.#stopped) return;
        this.#v4Failed = true;
        // IPv6 link-local may still carry it: say so only when nothing can.
        if (this.#v6 === undefined) {
          this.stop();
          this.#onFailure((error as Error).message);
        }
      });
    }
    // A link-local address still being checked for duplicates (its first
    // second or two) refuses to send: the next interval tries again.
    for (const { index } of this.#interfaces) {
      this.#v6?.send(this.#data, {
        hostname: `${DISCOVERY_GROUP_V6}%${index}`,
        port: DISCOVERY_PORT,
        transport: "udp",
      }).catch(() => {});
    }
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
    for (const socket of [this.#v4, this.#v6]) {
      try {
        socket?.close();
      } catch { /* closed */ }
    }
  }
}

/** A side found on the network. */
export interface Found {
  /** Its address; an IPv6 link-local one carries its interface (`fe80::1%eth0`). */
  hostname: string;
  port: number;
}

/** The sockets a look listens on: IPv4, and IPv6 per link-local interface. */
async function lookingSockets(
  role: AnnouncedRole,
): Promise<{ socket: Deno.DatagramConn; scope?: string }[]> {
  const sockets: { socket: Deno.DatagramConn; scope?: string }[] = [];
  let failure: unknown;
  try {
    const socket = Deno.listenDatagram({
      hostname: "0.0.0.0",
      port: DISCOVERY_PORT,
      transport: "udp",
      reuseAddress: true,
      loopback: true,
    });
    sockets.push({ socket });
    await socket.joinMulticastV4(DISCOVERY_GROUP, "0.0.0.0");
  } catch (error) {
    sockets.pop()?.socket.close();
    failure = error;
  }
  // One socket per interface, bound to the group on it: what arrives there
  // came by that interface, which a link-local address needs to be reached.
  for (const { name, index } of linkLocalInterfaces()) {
    try {
      const socket = Deno.listenDatagram({
        hostname: `${DISCOVERY_GROUP_V6}%${index}`,
        port: DISCOVERY_PORT,
        transport: "udp",
        reuseAddress: true,
        loopback: true,
      });
      sockets.push({ socket, scope: name });
      await socket.joinMulticastV6(DISCOVERY_GROUP_V6, index);
    } catch (error) {
      sockets.pop()?.socket.close();
      failure ??= error;
    }
  }
  if (sockets.length === 0) {
    throw new NetworkError(
      `Cannot look for the ${role} on this network (${
        failure instanceof Error ? failure.message : String(failure)
      }): give its address with --${role === "receiver" ? "to" : "from"}`,
      "discovery",
      { cause: failure },
    );
  }
  return sockets;
}

/**
 * Listens for sides in `role` (receivers, unless told) announcing
 * `nameplate`, for up to `timeoutMs` (forever: `Infinity`, until `signal`),
 * over IPv4 and IPv6 link-local. Once one is heard, it listens one interval
 * more, so that two with the same nameplate are both seen (the caller then
 * asks for an address rather than try the wrong one). Returns every one
 * heard, each once (by its id) and by IPv4 where it was heard on both.
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
  const sockets = await lookingSockets(role);
  /** Every announcement heard, by its id (or none) and where it came from. */
  const heardFrom = new Map<string, { id: string | undefined; hit: Found }>();
  let end = performance.now() + (options.timeoutMs ?? DISCOVERY_TIMEOUT_MS);
  const stop = () => {
    for (const { socket } of sockets) {
      try {
        socket.close();
      } catch { /* closed */ }
    }
  };
  // A timer of Infinity would fire at once: none, and the signal ends it.
  let timer = Number.isFinite(end)
    ? setTimeout(stop, end - performance.now())
    : undefined;
  options.signal?.addEventListener("abort", stop, { once: true });
  if (options.signal?.aborted) stop();
  const heard = (a: Announcement, hostname: string) => {
    const hit = { hostname, port: a.port };
    const key = `${a.id ?? ""} ${formatAddress(hostname, a.port)}`;
    const first = heardFrom.size === 0;
    heardFrom.set(key, { id: a.id, hit });
    if (first) {
      // One more interval, for a second side with the same nameplate.
      const soon = performance.now() + ANNOUNCE_INTERVAL_MS + 200;
      if (soon < end) {
        end = soon;
        clearTimeout(timer);
        timer = setTimeout(stop, end - performance.now());
      }
    }
  };
  try {
    await Promise.all(sockets.map(async ({ socket, scope }) => {
      try {
        for await (const [data, from] of socket) {
          const a = decodeAnnouncement(data);
          if (a?.nameplate !== nameplate || a.role !== role) continue;
          const host = (from as Deno.NetAddr).hostname;
          heard(a, scope && !host.includes("%") ? `${host}%${scope}` : host);
        }
      } catch {
        // closed: the time is up
      }
    }));
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", stop);
    stop();
  }
  return sidesOf([...heardFrom.values()]);
}

/**
 * The sides behind what was heard. One id from one IPv4 address and (or)
 * one IPv6 address is one side, reached by IPv4 (it needs no interface
 * named). One id from two addresses of a family is two sides: an impostor
 * repeating another's public id from its own address must not be taken for
 * it, so that "two sides with one number" is refused, not guessed.
 */
export function sidesOf(
  heard: readonly { id: string | undefined; hit: Found }[],
): Found[] {
  const byId = new Map<string, Found[]>();
  const sides: Found[] = [];
  for (const { id, hit } of heard) {
    if (id === undefined) sides.push(hit);
    else byId.set(id, [...(byId.get(id) ?? []), hit]);
  }
  for (const hits of byId.values()) {
    const v6 = hits.filter((h) => h.hostname.includes(":"));
    const v4 = hits.filter((h) => !h.hostname.includes(":"));
    if (v4.length <= 1 && v6.length <= 1) sides.push(v4[0] ?? v6[0]!);
    else sides.push(...hits);
  }
  return sides;
}

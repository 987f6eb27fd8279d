/**
 * TCP transport: parse `HOST[:PORT]`, listen on all interfaces (IPv4 and
 * IPv6 through one dual-stack socket where the system allows), connect,
 * and list this machine's LAN addresses for the "run this on the other
 * machine" hint.
 *
 * @module
 */

import {
  InterruptedError,
  NetworkError,
  TimeoutError,
  UsageError,
} from "./errors.ts";

/** The port pasa uses when none is given. */
export const DEFAULT_PORT = 9000;

/** A host and port to connect to. */
export interface Address {
  host: string;
  port: number;
}

/** Parses a port number; throws a UsageError naming the flag. */
export function parsePort(text: string, flag = "--port"): number {
  const n = Number(text);
  if (
    !/^\d+$/.test(text.trim()) || !Number.isInteger(n) || n < 0 || n > 65535
  ) {
    throw new UsageError(
      `Invalid ${flag} ${JSON.stringify(text)}: expected 0 to 65535`,
    );
  }
  return n;
}

/**
 * Parses `HOST`, `HOST:PORT`, `[IPV6]:PORT` or a bare IPv6 address.
 *
 * @example
 * ```ts
 * import { parseAddress } from "./tcp.ts";
 * parseAddress("[::1]:7000"); // => { host: "::1", port: 7000 }
 * parseAddress("lab-3");      // => { host: "lab-3", port: 9000 }
 * ```
 */
export function parseAddress(
  text: string,
  defaultPort = DEFAULT_PORT,
): Address {
  const bracket = /^\[([^\]]+)\](?::(.*))?$/.exec(text);
  let host: string;
  let port: string | undefined;
  if (bracket) {
    host = bracket[1]!;
    port = bracket[2];
  } else if ((text.match(/:/g) ?? []).length === 1) {
    [host, port] = text.split(":") as [string, string];
  } else {
    host = text; // a name, an IPv4 address, or a bare IPv6 address
  }
  if (host === "") {
    throw new UsageError(`Invalid address ${JSON.stringify(text)}: no host`);
  }
  const parsed = port === undefined ? defaultPort : parsePort(port, "port");
  if (parsed === 0) {
    throw new UsageError(`Invalid address ${JSON.stringify(text)}: port 0`);
  }
  return { host, port: parsed };
}

/** `host:port`, with brackets around IPv6 and IPv4-mapped forms unwrapped. */
export function formatAddress(host: string, port: number): string {
  const h = host.startsWith("::ffff:") && host.includes(".")
    ? host.slice(7)
    : host;
  return h.includes(":") ? `[${h}]:${port}` : `${h}:${port}`;
}

/** Whether an IP address is this machine's loopback (127.0.0.0/8, ::1, or IPv4-mapped). */
export function isLoopback(host: string): boolean {
  const h = host.startsWith("::ffff:") ? host.slice(7) : host;
  return h === "::1" || /^127\./.test(h);
}

/** Whether an IP address is IPv6 (an IPv4-mapped one is IPv4 on the wire). */
export function isIpv6(host: string): boolean {
  return host.includes(":") && !/^::ffff:\d/i.test(host);
}

/** The address of a connection's peer, as `host:port`. */
export function peerName(conn: Deno.Conn): string {
  const a = conn.remoteAddr as Deno.NetAddr;
  return formatAddress(a.hostname, a.port);
}

function netError(what: string, error: unknown): NetworkError {
  const detail = error instanceof Error ? error.message : String(error);
  return new NetworkError(`${what}: ${detail}`, "network", { cause: error });
}

/**
 * Listens for TCP connections. Without `host`, binds `::` (which takes IPv4
 * too on dual-stack systems) and falls back to `0.0.0.0` where IPv6 is off.
 */
export function listen(
  host: string | undefined,
  port: number,
): Deno.TcpListener {
  const hosts = host === undefined ? ["::", "0.0.0.0"] : [host];
  let last: unknown;
  for (const hostname of hosts) {
    try {
      return Deno.listen({ hostname, port, transport: "tcp" });
    } catch (error) {
      if (error instanceof Deno.errors.AddrInUse) {
        throw new NetworkError(
          `Cannot listen on port ${port}: it is in use (pick another with --port, or --port 0 for any free one)`,
          "network",
          { cause: error },
        );
      }
      last = error;
    }
  }
  throw netError(
    `Cannot listen on ${host ?? "all interfaces"} port ${port}`,
    last,
  );
}

/** Connects to `address`, with TCP_NODELAY so control frames are not held back. */
export async function connect(
  address: Address,
  options: ConnectOptions = {},
): Promise<Deno.TcpConn> {
  const where = formatAddress(address.host, address.port);
  const timeoutMs = options.timeoutMs ?? 0;
  // Bounded: packets a firewall drops get no answer, and the system's own
  // limit is minutes. A user's Ctrl-C stops it too.
  const giveUp = new AbortController();
  const timer = timeoutMs > 0
    ? setTimeout(() => giveUp.abort(), timeoutMs)
    : undefined;
  const waiting = options.onWaiting
    ? setTimeout(() => options.onWaiting!(where), CONNECT_NOTICE_MS)
    : undefined;
  const signal = options.signal
    ? AbortSignal.any([giveUp.signal, options.signal])
    : giveUp.signal;
  try {
    const conn = await Deno.connect({
      hostname: address.host,
      port: address.port,
      signal,
    });
    conn.setNoDelay(true);
    return conn;
  } catch (error) {
    if (options.signal?.aborted) {
      throw new InterruptedError("Interrupted while connecting", {
        cause: error,
      });
    }
    if (giveUp.signal.aborted) {
      throw new TimeoutError(
        `Cannot connect to ${where}: no answer within ${
          timeoutMs / 1000
        } s (--timeout). Is the address right, and is the port open? A firewall that drops packets gives no answer at all`,
        { cause: error },
      );
    }
    if (error instanceof Deno.errors.ConnectionRefused) {
      throw new NetworkError(
        `Cannot connect to ${where}: connection refused (is the other side listening on that port?)`,
        "network",
        { cause: error },
      );
    }
    throw netError(`Cannot connect to ${where}`, error);
  } finally {
    clearTimeout(timer);
    clearTimeout(waiting);
  }
}

/** After this long without a connection, {@link ConnectOptions.onWaiting} is told. */
export const CONNECT_NOTICE_MS = 1000;

/** Options of {@link connect}. */
export interface ConnectOptions {
  /** Give up after this long (0: the system's own limit). */
  timeoutMs?: number;
  /** Stops connecting (Ctrl-C). */
  signal?: AbortSignal;
  /** Called once if the connection takes longer than a second: say so. */
  onWaiting?: (where: string) => void;
}

/**
 * This machine's addresses that another machine could reach: IPv4 first,
 * then global IPv6; no loopback or link-local. Empty without permission.
 */
/**
 * The addresses another side can use to reach a socket bound to `bound`:
 * this machine's LAN addresses when it listens on all interfaces (IPv4
 * only for `0.0.0.0`), else that one address, loopback included.
 */
export function reachableAddresses(bound: string): string[] {
  if (bound === "::") return lanAddresses();
  if (bound === "0.0.0.0") {
    return lanAddresses().filter((a) => !a.includes(":"));
  }
  return [bound];
}

export function lanAddresses(): string[] {
  let interfaces: Deno.NetworkInterfaceInfo[];
  try {
    interfaces = Deno.networkInterfaces();
  } catch {
    return [];
  }
  const v4 = interfaces.filter((i) =>
    i.family === "IPv4" && !i.address.startsWith("127.")
  );
  const v6 = interfaces.filter((i) =>
    i.family === "IPv6" && i.address !== "::1" && !/^fe[89ab]/i.test(i.address)
  );
  return [...new Set([...v4, ...v6].map((i) => i.address))];
}

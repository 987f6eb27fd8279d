/**
 * A test relay between a UDP-mode sender and receiver, on 127.0.0.1: it
 * forwards the TCP control connection untouched and the datagrams sent to
 * the same port number with seeded damage (drop, duplicate, reorder), and
 * can inject malformed datagrams carrying the real transfer id.
 *
 * @module
 */

import { writeHeader } from "../lib/udp.ts";
import { startProxyOn } from "./proxy.ts";

/** Fractions of datagrams to damage, and the seed that makes it repeatable. */
export interface UdpDamage {
  seed: number;
  drop?: number;
  duplicate?: number;
  reorder?: number;
  /** Inject malformed datagrams (with the transfer's id) after the first one seen. */
  inject?: boolean;
  /** Fraction of datagrams forwarded with one payload bit flipped, in place of the original. */
  flip?: number;
  /**
   * Drop the first datagram shorter than one seen before it: a file's
   * short last slot, so that its repair is what completes the file.
   */
  dropFirstShort?: boolean;
  /**
   * Fraction of datagrams over 1,500 bytes dropped: a path that loses IP
   * fragments, where any of a large datagram's fragments lost loses it.
   */
  dropLarge?: number;
}

/** What the relay did. */
export interface RelayCounts {
  seen: number;
  dropped: number;
  duplicated: number;
  reordered: number;
  injected: number;
  flipped: number;
}

/** A running relay. */
export interface UdpRelay extends AsyncDisposable {
  port: number;
  counts: RelayCounts;
}

/** Mulberry32: a small seeded PRNG, so a failure reproduces from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Malformed datagrams with a real transfer id: each must be counted and ignored. */
function malformed(transfer: number): Uint8Array[] {
  const beyond = new Uint8Array(40 + 100);
  writeHeader(beyond, {
    transfer,
    index: 0,
    sequence: 1,
    offset: 2 ** 40,
    sentMicros: 0,
  });
  const laterFile = new Uint8Array(40 + 100);
  writeHeader(laterFile, {
    transfer,
    index: 999,
    sequence: 1,
    offset: 0,
    sentMicros: 0,
  });
  const wrongVersion = beyond.slice();
  wrongVersion[0] = 9;
  const oddOffset = new Uint8Array(40 + 10);
  writeHeader(oddOffset, {
    transfer,
    index: 0,
    sequence: 1,
    offset: 7,
    sentMicros: 0,
  });
  const short = new Uint8Array(12);
  new DataView(short.buffer).setUint32(4, transfer);
  return [beyond, laterFile, wrongVersion, oddOffset, short];
}

/** Starts a relay to a receiver listening (TCP and UDP) on 127.0.0.1:`target`. */
export function startUdpRelay(
  target: number,
  damage: UdpDamage,
): UdpRelay {
  // The sender sends datagrams to the port number it connected to: bind both on one number.
  let socket: Deno.DatagramConn | undefined;
  let tcp: ReturnType<typeof startProxyOn> | undefined;
  for (let attempt = 0; attempt < 20 && !tcp; attempt++) {
    socket = Deno.listenDatagram({
      hostname: "127.0.0.1",
      port: 0,
      transport: "udp",
    });
    try {
      tcp = startProxyOn((socket.addr as Deno.NetAddr).port, target);
    } catch {
      socket.close();
    }
  }
  if (!socket || !tcp) {
    throw new Error("Could not bind TCP and UDP on one port number");
  }
  const udp = socket;
  const random = prng(damage.seed);
  const counts: RelayCounts = {
    seen: 0,
    dropped: 0,
    duplicated: 0,
    reordered: 0,
    injected: 0,
    flipped: 0,
  };
  const to: Deno.NetAddr = {
    transport: "udp",
    hostname: "127.0.0.1",
    port: target,
  };
  let longest = 0;
  let droppedShort = false;
  let held: Uint8Array | undefined;
  let heldTimer: ReturnType<typeof setTimeout> | undefined;
  const release = async () => {
    clearTimeout(heldTimer);
    const h = held;
    held = undefined;
    if (h) await udp.send(h, to).catch(() => 0);
  };
  const loop = (async () => {
    const buf = new Uint8Array(65_536);
    for (;;) {
      let d: Uint8Array;
      try {
        [d] = await udp.receive(buf);
      } catch {
        return;
      }
      counts.seen++;
      const copy = d.slice();
      if (damage.dropFirstShort && !droppedShort && copy.length < longest) {
        droppedShort = true;
        counts.dropped++;
        continue;
      }
      longest = Math.max(longest, copy.length);
      if (damage.inject && counts.injected === 0 && copy.length >= 8) {
        const transfer = new DataView(copy.buffer).getUint32(4);
        for (const bad of malformed(transfer)) {
          await udp.send(bad, to).catch(() => 0);
        }
        counts.injected = malformed(transfer).length;
      }
      if (damage.flip && random() < damage.flip && copy.length > 48) {
        counts.flipped++;
        copy[44 + Math.floor(random() * (copy.length - 44))]! ^= 0x01;
      }
      if (
        damage.dropLarge && copy.length > 1500 && random() < damage.dropLarge
      ) {
        counts.dropped++;
        continue;
      }
      const r = random();
      if (r < (damage.drop ?? 0)) {
        counts.dropped++;
        continue;
      }
      if (
        r < (damage.drop ?? 0) + (damage.reorder ?? 0) && held === undefined
      ) {
        // Hold this one back until the next has gone (or 5 ms pass).
        counts.reordered++;
        held = copy;
        heldTimer = setTimeout(release, 5);
        continue;
      }
      await udp.send(copy, to).catch(() => 0);
      if (held) await release();
      if (random() < (damage.duplicate ?? 0)) {
        counts.duplicated++;
        await udp.send(copy, to).catch(() => 0);
      }
    }
  })();
  return {
    port: (udp.addr as Deno.NetAddr).port,
    counts,
    async [Symbol.asyncDispose]() {
      await release();
      udp.close();
      await loop;
      await tcp[Symbol.asyncDispose]();
    },
  };
}

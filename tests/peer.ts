/**
 * A hand-written protocol peer for tests: it speaks pasa's wire format
 * directly, so tests can send what the real sender never would.
 *
 * @module
 */

import { FrameReader, writeAll, writeControl } from "../lib/frames.ts";
import { Link } from "../lib/link.ts";
import { encodeControl, type Entry, type Message } from "../lib/protocol.ts";
import { handshake } from "../lib/session.ts";
import { TEST_CODE } from "./helpers.ts";

/** An open connection that has done the handshake as a sender. */
export interface Peer extends Disposable {
  conn: Deno.TcpConn;
  reader: FrameReader;
  send(message: Message): Promise<void>;
  write(bytes: Uint8Array): Promise<void>;
  next(): Promise<Message>;
}

/**
 * Connects to 127.0.0.1:`port` as a sender, exchanges hellos and pairs with
 * the tests' code: a peer that knows the code but misbehaves after it.
 */
export async function connectAsSender(port: number): Promise<Peer> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const link = new Link(conn, {
    timeoutMs: 0,
    pairing: { code: TEST_CODE, initiator: true },
  });
  const reader = new FrameReader(link);
  await handshake(link, reader, "sender");
  return {
    conn,
    reader,
    send: (m) => writeControl(link, m),
    write: (b) => writeAll(link, b),
    next: () => reader.readControl(),
    [Symbol.dispose]() {
      try {
        conn.close();
      } catch { /* closed */ }
    },
  };
}

/** Offers `entries` and returns the receiver's answer (accept or error). */
export async function offer(peer: Peer, entries: Entry[]): Promise<Message> {
  await peer.send({ type: "manifest", entries, last: true });
  return await peer.next();
}

/** A frame holding raw bytes as a body chunk. */
export function chunkFrame(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + bytes.length);
  new DataView(out.buffer).setUint32(0, bytes.length);
  out.set(bytes, 4);
  return out;
}

export { encodeControl };

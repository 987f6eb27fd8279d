/**
 * A hand-written protocol peer for tests: it speaks pasa's wire format
 * directly, so tests can send what the real sender never would.
 *
 * @module
 */

import { FrameReader, writeAll, writeControl } from "../lib/frames.ts";
import {
  decodePreamble,
  encodeControl,
  encodePreamble,
  type Entry,
  type Message,
} from "../lib/protocol.ts";

/** An open connection that has done the handshake as a sender. */
export interface Peer extends Disposable {
  conn: Deno.TcpConn;
  reader: FrameReader;
  send(message: Message): Promise<void>;
  write(bytes: Uint8Array): Promise<void>;
  next(): Promise<Message>;
}

/** Connects to 127.0.0.1:`port` as a sender and exchanges hellos. */
export async function connectAsSender(port: number): Promise<Peer> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const reader = new FrameReader(conn);
  await writeAll(conn, encodePreamble());
  await writeControl(conn, {
    type: "hello",
    role: "sender",
    software: "test-peer",
    security: ["none"],
  });
  decodePreamble(await reader.readExact(8, "preamble"));
  const hello = await reader.readControl();
  if (hello.type !== "hello") {
    throw new Error(`expected hello, got ${hello.type}`);
  }
  return {
    conn,
    reader,
    send: (m) => writeControl(conn, m),
    write: (b) => writeAll(conn, b),
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

/**
 * A hand-written protocol peer for tests: it speaks pasa's wire format
 * directly, so tests can send what the real sender never would.
 *
 * @module
 */

import { createHash } from "node:crypto";
import net from "node:net";
import { concat, FrameReader, writeAll, writeControl } from "../lib/frames.ts";
import { Link } from "../lib/link.ts";
import {
  encodeControl,
  encodePreamble,
  type Entry,
  type Message,
} from "../lib/protocol.ts";
import { handshake } from "../lib/session.ts";
import { TEST_CODE } from "./helpers.ts";

/** An open connection that has done the handshake as a sender. */
export interface Peer extends Disposable {
  conn: Deno.TcpConn;
  /** The paired link (its datagram keys seal UDP). */
  link: Link;
  reader: FrameReader;
  send(message: Message): Promise<void>;
  write(bytes: Uint8Array): Promise<void>;
  next(): Promise<Message>;
  /** The next control frame's JSON as sent, unknown members included. */
  nextRaw(): Promise<Record<string, unknown>>;
}

/**
 * Connects to 127.0.0.1:`port` as a sender, exchanges hellos and pairs with
 * the tests' code (or not, `insecure`): a peer that knows the code but
 * misbehaves after it.
 */
export async function connectAsSender(
  port: number,
  options: { beforeConfirm?: () => Promise<void>; insecure?: boolean } = {},
): Promise<Peer> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const { insecure, ...hooks } = options;
  const link = new Link(conn, {
    timeoutMs: 0,
    ...(insecure
      ? {}
      : { pairing: { code: TEST_CODE, initiator: true, ...hooks } }),
  });
  const reader = new FrameReader(link);
  await handshake(link, reader, "sender");
  return peerOf(conn, link, reader);
}

/** A paired connection's test handle. */
function peerOf(conn: Deno.TcpConn, link: Link, reader: FrameReader): Peer {
  return {
    conn,
    link,
    reader,
    send: (m) => writeControl(link, m),
    write: (b) => writeAll(link, b),
    next: () => reader.readControl(),
    nextRaw: async () => {
      const length = await reader.readU32("control frame header");
      const json = await reader.readExact(length, "control frame");
      return JSON.parse(new TextDecoder().decode(json));
    },
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

/**
 * A stranger's reset storm: connects to 127.0.0.1:`port` and resets at
 * once (SO_LINGER 0), again and again, `count` times or for `ms` at most.
 * Returns how many it made.
 */
export async function resetStorm(
  port: number,
  options: { count: number; ms: number },
): Promise<number> {
  const until = performance.now() + options.ms;
  let made = 0;
  while (made < options.count && performance.now() < until) {
    await new Promise<void>((resolve) => {
      const socket = net.connect(port, "127.0.0.1", () => {
        socket.resetAndDestroy();
        resolve();
      });
      socket.on("error", () => resolve());
    });
    made++;
  }
  return made;
}

/**
 * A stranger that says hello as a sender and then nothing: returns the
 * open connection (close it, or let the receiver drop it).
 */
export async function helloOnly(port: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const hello = encodeControl({
    type: "hello",
    role: "sender",
    software: "stranger",
    security: ["spake2-p256-chacha20poly1305"],
  });
  await writeAll(conn, encodePreamble());
  await writeAll(conn, hello);
  return conn;
}

/**
 * Sends file `index`'s whole body as one chunk, the closing empty chunk and
 * its `file-end`, as an honest sender would; returns the SHA-256 sent.
 */
export async function sendBody(
  peer: Peer,
  index: number,
  body: Uint8Array,
): Promise<string> {
  const sha256 = createHash("sha256").update(body).digest("hex");
  if (body.length > 0) await peer.write(chunkFrame(body));
  await peer.write(new Uint8Array(4));
  await peer.send({ type: "file-end", index, size: body.length, sha256 });
  return sha256;
}

/** A scripted receiver that the real `pasa send` connects to. */
export interface FakeReceiver extends Disposable {
  port: number;
  /** The next sender, after the hellos and the pairing with the tests' code. */
  accept(): Promise<Peer>;
}

/** Listens on 127.0.0.1 as a receiver that lies as each test scripts it (plain with `insecure`). */
export function listenAsReceiver(
  options: { insecure?: boolean } = {},
): FakeReceiver {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async accept() {
      const conn = await listener.accept() as Deno.TcpConn;
      const link = new Link(conn, {
        timeoutMs: 0,
        ...(options.insecure
          ? {}
          : { pairing: { code: TEST_CODE, initiator: false } }),
      });
      const reader = new FrameReader(link);
      await handshake(link, reader, "receiver");
      return peerOf(conn, link, reader);
    },
    [Symbol.dispose]() {
      try {
        listener.close();
      } catch { /* closed */ }
    },
  };
}

/** Reads one file's body chunks up to the closing empty chunk; returns the bytes. */
export async function readBody(peer: Peer): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (;;) {
    const length = await peer.reader.readU32("chunk header");
    if (length === 0) break;
    parts.push(await peer.reader.readExact(length, "chunk"));
  }
  return concat(...parts);
}

/** A stranger after its hello: plain frames, no code. */
export interface Stranger extends Disposable {
  conn: Deno.TcpConn;
  send(message: Message): Promise<void>;
  /** Reads until the receiver closes. */
  drain(): Promise<void>;
}

/** Connects as a stranger that says hello (see {@link helloOnly}) and more. */
export async function connectRaw(port: number): Promise<Stranger> {
  const conn = await helloOnly(port);
  return {
    conn,
    send: (m) => writeAll(conn, encodeControl(m)),
    drain: async () => {
      const buf = new Uint8Array(4096);
      while (await conn.read(buf).catch(() => null) !== null) {
        // the receiver's hello, then its error, until it closes
      }
    },
    [Symbol.dispose]() {
      try {
        conn.close();
      } catch { /* closed */ }
    },
  };
}

/**
 * What the session keys seal, with ChaCha20-Poly1305: records on the TCP
 * connection (a {@link RecordLayer} under the frame layer) and single UDP
 * datagrams, with the replay window that guards them. PROTOCOL.md sections
 * 4.3 and 4.4 specify both formats.
 *
 * The AEAD is `node:crypto`'s native ChaCha20-Poly1305: here it runs at
 * about 1.2 GB/s, where AES-256-GCM through the same API runs at 0.2 GB/s
 * (bench/README.md has the measurement).
 *
 * @module
 */

import { createCipheriv, createDecipheriv } from "node:crypto";
import { IntegrityError, ProtocolError } from "./errors.ts";
import { writeAll } from "./frames.ts";
import type { Connection } from "./link.ts";
import { SEALED_TAG, UDP_HEADER } from "./udp.ts";

/** Largest plaintext in one TCP record. */
export const RECORD_MAX = 256 * 1024;
/** Bytes of the authentication tag after each sealed record or datagram. */
export const TAG = SEALED_TAG;

/** The key and nonce prefix for one direction of one channel. */
export interface DirectionKey {
  key: Uint8Array;
  /** First 4 bytes of every nonce: channel and direction. */
  prefix: Uint8Array;
}

/** Keys for datagrams: those this side seals with, and those it opens with. */
export interface DatagramKeys {
  out: DirectionKey;
  in: DirectionKey;
}

/** The 12-byte nonce: the direction's 4-byte prefix, then the sequence as u64 BE. */
function nonceOf(prefix: Uint8Array, sequence: number): Uint8Array {
  const nonce = new Uint8Array(12);
  nonce.set(prefix, 0);
  const view = new DataView(nonce.buffer);
  view.setUint32(4, Math.floor(sequence / 2 ** 32));
  view.setUint32(8, sequence >>> 0);
  return nonce;
}

/** A datagram's nonce: the direction's prefix, then the header's sequence bytes. */
function datagramNonce(k: DirectionKey, datagram: Uint8Array): Uint8Array {
  const nonce = new Uint8Array(12);
  nonce.set(k.prefix, 0);
  nonce.set(datagram.subarray(16, 24), 4);
  return nonce;
}

function cipherOf(k: DirectionKey, nonce: Uint8Array) {
  return createCipheriv("chacha20-poly1305", k.key, nonce, {
    authTagLength: TAG,
  });
}

function decipherOf(k: DirectionKey, nonce: Uint8Array) {
  return createDecipheriv("chacha20-poly1305", k.key, nonce, {
    authTagLength: TAG,
  });
}

const gc = (globalThis as { gc?: (o?: { type: string }) => void }).gc;
/** A minor collection, where the runtime allows it (--expose-gc). */
function collectYoung(): void {
  gc?.({ type: "minor" });
}

const recordFailed = () =>
  new IntegrityError(
    "An encrypted record failed its check: the data was changed, replayed or reordered in transit",
  );

/**
 * The TCP record layer: each write becomes one record, `u32 BE length` +
 * ciphertext + 16-byte tag, sealed with the direction's key and a nonce
 * from its implicit sequence number, the length as associated data. A
 * changed, dropped, replayed or reordered record fails its tag.
 */
export class RecordLayer implements Connection {
  #raw: Connection;
  #out: DirectionKey;
  #in: DirectionKey;
  #sent = 0;
  #received = 0;
  #rx: Uint8Array;
  #rxStart = 0;
  #rxEnd = 0;
  #plain: Uint8Array = new Uint8Array(0);
  #plainAt = 0;
  #tx = new Uint8Array(4 + RECORD_MAX + TAG);
  #tail: Promise<unknown> = Promise.resolve();

  constructor(
    raw: Connection,
    out: DirectionKey,
    into: DirectionKey,
    leftover: Uint8Array = new Uint8Array(0),
  ) {
    this.#raw = raw;
    this.#out = out;
    this.#in = into;
    this.#rx = new Uint8Array(
      Math.max(2 * (4 + RECORD_MAX + TAG), leftover.length),
    );
    this.#rx.set(leftover);
    this.#rxEnd = leftover.length;
  }

  async read(p: Uint8Array): Promise<number | null> {
    while (this.#plainAt === this.#plain.length) {
      if (!await this.#nextRecord()) return null;
    }
    const n = Math.min(p.length, this.#plain.length - this.#plainAt);
    p.set(this.#plain.subarray(this.#plainAt, this.#plainAt + n));
    this.#plainAt += n;
    return n;
  }

  /** Buffers at least `n` bytes; false if the stream ends first. */
  async #fill(n: number): Promise<boolean> {
    if (this.#rx.length - this.#rxStart < n) {
      this.#rx.copyWithin(0, this.#rxStart, this.#rxEnd);
      this.#rxEnd -= this.#rxStart;
      this.#rxStart = 0;
    }
    while (this.#rxEnd - this.#rxStart < n) {
      const got = await this.#raw.read(this.#rx.subarray(this.#rxEnd));
      if (got === null) return false;
      this.#rxEnd += got;
    }
    return true;
  }

  /** Reads, checks and decrypts one record; false at a clean end of stream. */
  async #nextRecord(): Promise<boolean> {
    if (!await this.#fill(4)) {
      if (this.#rxEnd === this.#rxStart) return false;
      throw new ProtocolError(
        "Connection closed in the middle of an encrypted record header",
        "truncated",
      );
    }
    const at = this.#rxStart;
    const length = new DataView(this.#rx.buffer, at, 4).getUint32(0);
    if (length <= TAG || length > RECORD_MAX + TAG) throw recordFailed();
    if (!await this.#fill(4 + length)) {
      throw new ProtocolError(
        "Connection closed in the middle of an encrypted record",
        "truncated",
      );
    }
    const start = this.#rxStart;
    const header = this.#rx.subarray(start, start + 4);
    const body = this.#rx.subarray(start + 4, start + 4 + length - TAG);
    const tag = this.#rx.subarray(start + 4 + length - TAG, start + 4 + length);
    const d = decipherOf(this.#in, nonceOf(this.#in.prefix, this.#received++));
    d.setAAD(header, { plaintextLength: body.length });
    d.setAuthTag(tag);
    const plain = d.update(body);
    try {
      d.final();
    } catch {
      throw recordFailed();
    }
    this.#rxStart += 4 + length;
    if ((this.#received & 15) === 0) collectYoung();
    this.#plain = plain;
    this.#plainAt = 0;
    return true;
  }

  /** Seals up to {@link RECORD_MAX} bytes of `p` as one record; returns how many. */
  write(p: Uint8Array): Promise<number> {
    const n = Math.min(p.length, RECORD_MAX);
    if (n === 0) return Promise.resolve(0);
    // One record at a time, in sequence order, whoever is writing.
    const run = this.#tail.then(() => this.#writeRecord(p.subarray(0, n)));
    this.#tail = run.catch(() => {});
    return run.then(() => n);
  }

  async #writeRecord(plain: Uint8Array): Promise<void> {
    const tx = this.#tx;
    const length = plain.length + TAG;
    new DataView(tx.buffer).setUint32(0, length);
    const c = cipherOf(this.#out, nonceOf(this.#out.prefix, this.#sent++));
    c.setAAD(tx.subarray(0, 4), { plaintextLength: plain.length });
    tx.set(c.update(plain), 4);
    c.final();
    tx.set(c.getAuthTag(), 4 + plain.length);
    if ((this.#sent & 15) === 0) collectYoung();
    await writeAll(this.#raw, tx.subarray(0, 4 + length));
  }

  async closeWrite(): Promise<void> {
    await this.#tail;
    await this.#raw.closeWrite();
  }

  close(): void {
    this.#raw.close();
  }
}

/**
 * Seals a datagram in place: `buf` holds the 40-byte header, then
 * `payloadLength` bytes, and room for the tag. The header is associated
 * data; the nonce is the direction's prefix and the header's sequence
 * number. Returns the datagram's length.
 */
export function sealDatagram(
  k: DirectionKey,
  buf: Uint8Array,
  payloadLength: number,
): number {
  const c = cipherOf(k, datagramNonce(k, buf));
  c.setAAD(buf.subarray(0, UDP_HEADER), { plaintextLength: payloadLength });
  const end = UDP_HEADER + payloadLength;
  buf.set(c.update(buf.subarray(UDP_HEADER, end)), UDP_HEADER);
  c.final();
  buf.set(c.getAuthTag(), end);
  return end + TAG;
}

/** Sequence numbers further back than this are refused as stale. */
export const REPLAY_WINDOW = 1 << 16;

/**
 * Remembers which sequence numbers arrived, within a sliding window, so a
 * replayed datagram is refused (reordering inside the window is normal).
 */
export class ReplayWindow {
  #bits = new Uint8Array(REPLAY_WINDOW / 8);
  #top = -1;

  /** True the first time `sequence` is seen; false for a replay or a stale one. */
  accept(sequence: number): boolean {
    if (sequence > this.#top) {
      if (sequence - this.#top >= REPLAY_WINDOW) this.#bits.fill(0);
      else {
        for (let s = this.#top + 1; s < sequence; s++) this.#clear(s);
      }
      this.#top = sequence;
      this.#set(sequence);
      return true;
    }
    if (this.#top - sequence >= REPLAY_WINDOW) return false;
    const i = sequence % REPLAY_WINDOW;
    if (this.#bits[i >> 3]! & (1 << (i & 7))) return false;
    this.#set(sequence);
    return true;
  }

  #set(s: number): void {
    const i = s % REPLAY_WINDOW;
    this.#bits[i >> 3]! |= 1 << (i & 7);
  }

  #clear(s: number): void {
    const i = s % REPLAY_WINDOW;
    this.#bits[i >> 3]! &= ~(1 << (i & 7));
  }
}

/** Why a datagram was dropped before its handler saw it. */
export type Rejection = "forged" | "replayed";

/**
 * Opens sealed datagrams for one transfer before its handler sees them:
 * checks the tag, then refuses replays (a network duplicate is one too).
 * What fails is dropped and reported: a forged datagram must not end a
 * transfer, and repair fetches the slot again.
 */
export class DatagramOpener {
  #key: DirectionKey;
  #window = new ReplayWindow();
  #plain = new Uint8Array(65_536);
  #onReject: (why: Rejection) => void;
  /** Where opened datagrams go: the current file's receiver. */
  inner: { onDatagram(d: Uint8Array, arrivalMs: number): void } | undefined;

  constructor(key: DirectionKey, onReject: (why: Rejection) => void) {
    this.#key = key;
    this.#onReject = onReject;
  }

  onDatagram(d: Uint8Array, arrivalMs: number): void {
    const plain = this.#open(d);
    if (typeof plain === "string") this.#onReject(plain);
    else this.inner?.onDatagram(plain, arrivalMs);
  }

  /** The datagram with its payload decrypted and tag removed, or why not. */
  #open(d: Uint8Array): Uint8Array | Rejection {
    if (d.length < UDP_HEADER + TAG) return "forged";
    const end = d.length - TAG;
    const c = decipherOf(this.#key, datagramNonce(this.#key, d));
    c.setAAD(d.subarray(0, UDP_HEADER), {
      plaintextLength: end - UDP_HEADER,
    });
    c.setAuthTag(d.subarray(end));
    const payload = c.update(d.subarray(UDP_HEADER, end));
    try {
      c.final();
    } catch {
      return "forged";
    }
    const view = new DataView(d.buffer, d.byteOffset + 16, 8);
    const sequence = view.getUint32(0) * 2 ** 32 + view.getUint32(4);
    if (!this.#window.accept(sequence)) return "replayed";
    this.#plain.set(d.subarray(0, UDP_HEADER), 0);
    this.#plain.set(payload, UDP_HEADER);
    return this.#plain.subarray(0, end);
  }
}

/**
 * Secure sessions: pairing with a short code (SPAKE2, pake.ts), the key
 * schedule, and the two ways bytes are sealed with ChaCha20-Poly1305 after
 * it: records on the TCP connection and single UDP datagrams. PROTOCOL.md
 * section 4 specifies all of it.
 *
 * The AEAD is `node:crypto`'s native ChaCha20-Poly1305: here it runs at
 * about 1.2 GB/s, where AES-256-GCM through the same API runs at 0.2 GB/s
 * (bench/README.md has the measurement).
 *
 * @module
 */

import { createCipheriv, createDecipheriv } from "node:crypto";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import {
  AuthError,
  errorFromPeer,
  IntegrityError,
  ProtocolError,
} from "./errors.ts";
import { type FrameReader, writeAll, writeControl } from "./frames.ts";
import type { Connection, Link } from "./link.ts";
import { deriveW, pakeFinish, pakeStart, sameBytes } from "./pake.ts";
import { SEALED_TAG, UDP_HEADER } from "./udp.ts";

/** The security mode of a paired, encrypted session, as named in `hello`. */
export const SECURE_MODE = "spake2-p256-chacha20poly1305";
/** The security mode of `--insecure`: no pairing, plain bytes. */
export const INSECURE_MODE = "none";
/** Largest plaintext in one TCP record. */
export const RECORD_MAX = 256 * 1024;
/** Bytes of the authentication tag after each sealed record or datagram. */
export const TAG = SEALED_TAG;
/** Failed pairings after which a `--keep` receiver stops taking connections. */
export const LOCKOUT_FAILURES = 5;

/** SPAKE2 identities: fixed, so a share cannot be replayed in the other role. */
const ID_A = new TextEncoder().encode("pasa/1 connecting side");
const ID_B = new TextEncoder().encode("pasa/1 listening side");
/** Binds the confirmation keys to the mode (RFC 9382's AAD). */
const PAKE_AAD = new TextEncoder().encode(SECURE_MODE);

/** How a side pairs: its code and whether it opened the connection. */
export interface Pairing {
  /** The code, already normalized (codes.ts). */
  code: string;
  /** True on the side that connected: it is SPAKE2's party A. */
  initiator: boolean;
  /** On a listening side that serves many: counts and limits failures. */
  gate?: PairingGate;
}

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

/** Session keys of one side, from SPAKE2's `Ke`. */
export interface SessionKeys {
  recordsOut: DirectionKey;
  recordsIn: DirectionKey;
  datagrams: DatagramKeys;
}

/**
 * Counts failed pairings on a listening side. Pairings in progress count
 * against the limit too, so concurrent guesses cannot overshoot it: past
 * it, a new pairing waits for one in progress to end (legitimate senders
 * arriving together are only delayed by a few milliseconds each).
 */
export class PairingGate {
  failures = 0;
  #inFlight = 0;
  #waiting: (() => void)[] = [];
  readonly limit: number;
  #onLocked: () => void;

  constructor(limit: number, onLocked: () => void = () => {}) {
    this.limit = limit;
    this.#onLocked = onLocked;
  }

  /** Whether no more pairings are allowed. */
  get locked(): boolean {
    return this.failures >= this.limit;
  }

  /** Reserves an attempt, waiting for a free one; false once locked. */
  async begin(): Promise<boolean> {
    while (!this.locked && this.failures + this.#inFlight >= this.limit) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
    if (this.locked) return false;
    this.#inFlight++;
    return true;
  }

  /** Ends an attempt begun with {@link begin}. */
  end(ok: boolean): void {
    this.#inFlight--;
    if (!ok) {
      this.failures++;
      if (this.locked) this.#onLocked();
    }
    // Wake everyone: each checks again (they are few, and rarely there).
    for (const wake of this.#waiting.splice(0)) wake();
  }
}

const pairingSecrets = new Map<string, bigint>();

/**
 * `w` for a code, computed once per process (scrypt takes ~30 ms): a
 * listening side computes it before its first connection, not during it.
 */
export function secretOf(code: string): bigint {
  let w = pairingSecrets.get(code);
  if (w === undefined) {
    w = deriveW(code);
    pairingSecrets.set(code, w);
  }
  return w;
}

const toHex = (b: Uint8Array) =>
  Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const fromHex = (h: string) =>
  Uint8Array.from(h.match(/../g) ?? [], (x) => parseInt(x, 16));

/**
 * Derives the session keys from `Ke`: one ChaCha20-Poly1305 key per
 * channel and direction, HKDF-SHA256 with the labels of PROTOCOL.md.
 */
export function sessionKeys(ke: Uint8Array, initiator: boolean): SessionKeys {
  const derive = (channel: "tcp" | "udp", from: "A" | "B"): DirectionKey => ({
    key: hkdf(
      sha256,
      ke,
      undefined,
      new TextEncoder().encode(
        `pasa/1 ${channel} ${from === "A" ? "A>B" : "B>A"}`,
      ),
      32,
    ),
    prefix: new Uint8Array([
      channel === "tcp" ? 0x54 : 0x55,
      from === "A" ? 0x41 : 0x42,
      0,
      0,
    ]),
  });
  const [us, them] = initiator ? ["A", "B"] as const : ["B", "A"] as const;
  return {
    recordsOut: derive("tcp", us),
    recordsIn: derive("tcp", them),
    datagrams: { out: derive("udp", us), in: derive("udp", them) },
  };
}

/**
 * Pairs over `link` after the hellos, then switches the link to encrypted
 * records. Throws an {@link AuthError} on a wrong code (after telling the
 * peer in the caller's hang-up) or when the gate is locked.
 */
export async function pair(
  link: Link,
  reader: FrameReader,
  pairing: Pairing,
): Promise<void> {
  const w = secretOf(pairing.code);
  let keys: SessionKeys;
  if (pairing.initiator) {
    const state = pakeStart("A", w);
    await writeControl(link, { type: "pake", share: toHex(state.share) });
    const answer = await reader.readControl();
    if (answer.type === "error") {
      throw errorFromPeer(answer.code, answer.message);
    }
    if (answer.type !== "pake" || answer.confirm === undefined) {
      throw new ProtocolError(
        `Expected the peer's pake frame, got ${answer.type}`,
      );
    }
    const result = finish(state, answer.share);
    if (!sameBytes(result.cB, fromHex(answer.confirm))) {
      throw new AuthError(
        "Wrong code: the other side was started with a different code; check it and try again",
      );
    }
    await writeControl(link, {
      type: "pake-confirm",
      confirm: toHex(result.cA),
    });
    keys = sessionKeys(result.ke, true);
  } else {
    const gate = pairing.gate;
    if (gate && !await gate.begin()) {
      throw new AuthError(
        `The receiver is locked after ${gate.limit} wrong codes; start a new one (with a new code)`,
        "locked",
      );
    }
    let ok = false;
    try {
      const state = pakeStart("B", w);
      const offer = await reader.readControl();
      if (offer.type === "error") {
        throw errorFromPeer(offer.code, offer.message);
      }
      if (offer.type !== "pake") {
        throw new ProtocolError(
          `Expected the peer's pake frame, got ${offer.type}`,
        );
      }
      const result = finish(state, offer.share);
      await writeControl(link, {
        type: "pake",
        share: toHex(state.share),
        confirm: toHex(result.cB),
      });
      // From here on the peer can test its guess against cB: whatever
      // happens next, the attempt counts unless cA proves the code.
      const confirm = await reader.readControl();
      const count = gate
        ? ` (${
          gate.failures + 1
        } of ${gate.limit} before this side stops taking connections)`
        : "";
      if (confirm.type === "error" && confirm.code === "auth") {
        // A found our confirmation wrong: say it in our words, not its.
        const error = new AuthError(
          `Wrong code: the other side used a different code${count}`,
        );
        error.fromPeer = true;
        throw error;
      }
      if (confirm.type === "error") {
        throw errorFromPeer(confirm.code, confirm.message);
      }
      if (confirm.type !== "pake-confirm") {
        throw new ProtocolError(
          `Expected the peer's pake-confirm frame, got ${confirm.type}`,
        );
      }
      if (!sameBytes(result.cA, fromHex(confirm.confirm))) {
        throw new AuthError(
          `Wrong code: the other side used a different code${count}`,
        );
      }
      ok = true;
      keys = sessionKeys(result.ke, false);
    } finally {
      gate?.end(ok);
    }
  }
  const leftover = reader.takeBuffered();
  link.secure(
    (raw) => new RecordLayer(raw, keys.recordsOut, keys.recordsIn, leftover),
    keys.datagrams,
  );
}

function finish(state: ReturnType<typeof pakeStart>, share: string) {
  try {
    return pakeFinish(state, fromHex(share), ID_A, ID_B, PAKE_AAD);
  } catch (error) {
    throw new ProtocolError(
      `Unusable pairing share from the peer: ${(error as Error).message}`,
      "protocol",
    );
  }
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

function cipherOf(k: DirectionKey, sequence: number) {
  return createCipheriv(
    "chacha20-poly1305",
    k.key,
    nonceOf(k.prefix, sequence),
    {
      authTagLength: TAG,
    },
  );
}

function decipherOf(k: DirectionKey, nonce: Uint8Array) {
  return createDecipheriv("chacha20-poly1305", k.key, nonce, {
    authTagLength: TAG,
  });
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
    const c = cipherOf(this.#out, this.#sent++);
    c.setAAD(tx.subarray(0, 4), { plaintextLength: plain.length });
    tx.set(c.update(plain), 4);
    c.final();
    tx.set(c.getAuthTag(), 4 + plain.length);
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
  const nonce = new Uint8Array(12);
  nonce.set(k.prefix, 0);
  nonce.set(buf.subarray(16, 24), 4);
  const c = createCipheriv("chacha20-poly1305", k.key, nonce, {
    authTagLength: TAG,
  });
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
    const nonce = new Uint8Array(12);
    nonce.set(this.#key.prefix, 0);
    nonce.set(d.subarray(16, 24), 4);
    const c = decipherOf(this.#key, nonce);
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

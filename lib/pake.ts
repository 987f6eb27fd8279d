/**
 * SPAKE2 (RFC 9382), ciphersuite SPAKE2-P256-SHA256-HKDF-HMAC, on the
 * audited `@noble/curves` and `@noble/hashes`. Pure functions: the wire
 * frames that carry the shares and confirmations live in secure.ts.
 *
 * Party A sends `pA = x·P + w·M`, party B sends `pB = y·P + w·N`. Both
 * compute the same `K` only if they used the same `w`; the transcript `TT`
 * hashes to `Ke || Ka`, and `Ka` keys the confirmation MACs `cA` and `cB`.
 * A wrong code is detected when a confirmation MAC does not verify.
 *
 * @module
 */

import { scryptSync } from "node:crypto";
import { p256 } from "@noble/curves/nist.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { concatBytes } from "@noble/hashes/utils.js";

const Point = p256.Point;
type Point = InstanceType<typeof Point>;
const ORDER = Point.Fn.ORDER;

/** RFC 9382 section 6: the P-256 point `M`, compressed SEC1. */
export const M_HEX =
  "02886e2f97ace46e55ba9dd7242579f2993b64e16ef3dcab95afd497333d8fa12f";
/** RFC 9382 section 6: the P-256 point `N`, compressed SEC1. */
export const N_HEX =
  "03d8bbd6c639c62937b04d997f38c3770719c629d7014d49a24b4f98baa1292b49";
const M = Point.fromHex(M_HEX);
const N = Point.fromHex(N_HEX);

/** Which side of the exchange: A (the one that connected) or B. */
export type PakeRole = "A" | "B";

/** Parameters of the memory-hard function that turns a code into `w`. */
export const SCRYPT = { N: 2 ** 12, r: 8, p: 1, dkLen: 48 } as const;
const W_SALT = "pasa/1 SPAKE2 w";

/**
 * `w = MHF(code) mod order` (RFC 9382 section 3.2): scrypt, 48 bytes, so the
 * reduction is unbiased to 2^-128. The cost is modest (N = 2^12, ~12 ms
 * in the runtime's native scrypt, twice that in JavaScript):
 * `w` is never stored or sent, and SPAKE2 already stops offline guessing,
 * so the MHF only slows down whoever could read a process's memory.
 */
export function deriveW(code: string): bigint {
  const { N, r, p, dkLen } = SCRYPT;
  const bytes = scryptSync(code, W_SALT, dkLen, { N, r, p });
  const w = toBigInt(bytes) % ORDER;
  return w === 0n ? 1n : w;
}

/**
 * Runs the curve arithmetic once on throwaway scalars: the first
 * multiplication builds the base point's tables and compiles the code
 * (about 25 ms here, against 1-3 ms after), so a side that waits for a
 * connection does it before, not during, the handshake. Nothing is kept
 * but the tables of public points.
 */
export function warmUp(): void {
  Point.BASE.multiply(randomScalar()).add(M.multiply(randomScalar()))
    .subtract(N.multiply(randomScalar())).multiply(randomScalar());
}

/** One side's state between sending its share and reading the peer's. */
export interface PakeState {
  role: PakeRole;
  w: bigint;
  scalar: bigint;
  /** Our share, uncompressed SEC1 (65 bytes). */
  share: Uint8Array;
}

/** Keys and MACs both sides agree on when they used the same `w`. */
export interface PakeResult {
  /** The transcript `TT` (RFC 9382 section 3.3). */
  transcript: Uint8Array;
  /** The shared secret: first half of Hash(TT). */
  ke: Uint8Array;
  /** The confirmation secret: second half of Hash(TT). */
  ka: Uint8Array;
  kcA: Uint8Array;
  kcB: Uint8Array;
  /** A's confirmation MAC: HMAC(KcA, TT). */
  cA: Uint8Array;
  /** B's confirmation MAC: HMAC(KcB, TT). */
  cB: Uint8Array;
}

/**
 * Starts the exchange: picks a random scalar (or takes `scalar`, for the
 * test vectors) and computes our share.
 */
export function pakeStart(
  role: PakeRole,
  w: bigint,
  scalar?: bigint,
): PakeState {
  const s = scalar ?? randomScalar();
  if (s <= 0n || s >= ORDER || w <= 0n || w >= ORDER) {
    throw new RangeError("SPAKE2 scalars must be in [1, order)");
  }
  const blind = role === "A" ? M : N;
  const share = Point.BASE.multiply(s).add(blind.multiply(w)).toBytes(false);
  return { role, w, scalar: s, share };
}

/**
 * Finishes the exchange with the peer's share. Throws a RangeError for a
 * share that is not an uncompressed point of the curve, or that makes `K`
 * the identity.
 */
export function pakeFinish(
  state: PakeState,
  peerShare: Uint8Array,
  idA: Uint8Array,
  idB: Uint8Array,
  aad: Uint8Array = new Uint8Array(0),
): PakeResult {
  if (peerShare.length !== 65 || peerShare[0] !== 0x04) {
    throw new RangeError("SPAKE2 share must be an uncompressed P-256 point");
  }
  let peer: Point;
  try {
    peer = Point.fromBytes(peerShare);
    peer.assertValidity();
  } catch {
    throw new RangeError("SPAKE2 share is not a point of P-256");
  }
  // Remove the peer's blinding, then multiply by our scalar (cofactor 1).
  const unblind = (state.role === "A" ? N : M).multiply(state.w);
  const diff = peer.subtract(unblind);
  if (diff.is0()) throw new RangeError("SPAKE2 share gives a degenerate key");
  const K = diff.multiply(state.scalar);
  const [pA, pB] = state.role === "A"
    ? [state.share, peerShare]
    : [peerShare, state.share];
  const transcript = concatBytes(
    withLength(idA),
    withLength(idB),
    withLength(pA),
    withLength(pB),
    withLength(K.toBytes(false)),
    withLength(fromBigInt(state.w, 32)),
  );
  const digest = sha256(transcript);
  const ke = digest.slice(0, 16);
  const ka = digest.slice(16);
  const info = concatBytes(new TextEncoder().encode("ConfirmationKeys"), aad);
  const kc = hkdf(sha256, ka, undefined, info, 32);
  const kcA = kc.slice(0, 16);
  const kcB = kc.slice(16);
  return {
    transcript,
    ke,
    ka,
    kcA,
    kcB,
    cA: hmac(sha256, kcA, transcript),
    cB: hmac(sha256, kcB, transcript),
  };
}

/** Compares two byte strings in time independent of where they differ. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

function randomScalar(): bigint {
  // 48 random bytes reduced mod the order: bias under 2^-128.
  for (;;) {
    const s = toBigInt(crypto.getRandomValues(new Uint8Array(48))) % ORDER;
    if (s !== 0n) return s;
  }
}

/** RFC 9382's length prefix: 8-byte little-endian length, then the bytes. */
function withLength(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + bytes.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(bytes.length), true);
  out.set(bytes, 8);
  return out;
}

function toBigInt(bytes: Uint8Array): bigint {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n;
}

function fromBigInt(n: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}

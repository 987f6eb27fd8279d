/**
 * Secure sessions: the security modes, pairing with a short code (SPAKE2,
 * pake.ts) right after the hellos, the failure gate of a listening side,
 * and the key schedule. What the keys seal is in records.ts. PROTOCOL.md
 * section 4 specifies all of it.
 *
 * @module
 */

import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { AuthError, errorFromPeer, ProtocolError } from "./errors.ts";
import { type FrameReader, writeControl } from "./frames.ts";
import type { Link } from "./link.ts";
import {
  bytesToHex as toHex,
  hexToBytes as fromHex,
} from "@noble/hashes/utils.js";
import { deriveW, pakeFinish, pakeStart, sameBytes } from "./pake.ts";
import {
  type DatagramKeys,
  type DirectionKey,
  RecordLayer,
} from "./records.ts";

export type { DatagramKeys, DirectionKey } from "./records.ts";

/** The security mode of a paired, encrypted session, as named in `hello`. */
export const SECURE_MODE = "spake2-p256-chacha20poly1305";
/** The security mode of `--insecure`: no pairing, plain bytes. */
export const INSECURE_MODE = "none";
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
  /** Called on a listening side when the peer's share arrived. */
  onShare?: () => void;
  /**
   * Awaited on the connecting side once the peer's confirmation checked
   * out, before this side sends its own (tests hold a pairing open here).
   */
  beforeConfirm?: () => Promise<void>;
  /**
   * This side's SPAKE2 scalar instead of a random one: only to replay
   * PROTOCOL.md's worked example through the real pairing (tests).
   */
  scalar?: bigint;
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

  /** Ends an attempt begun with {@link begin}; `ok` false counts a failure. */
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
    const state = pakeStart("A", w, pairing.scalar);
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
    await pairing.beforeConfirm?.();
    await writeControl(link, {
      type: "pake-confirm",
      confirm: toHex(result.cA),
    });
    keys = sessionKeys(result.ke, true);
  } else {
    // A peer that said hello and nothing more costs no curve arithmetic and
    // holds no attempt: both wait for its share.
    const offer = await reader.readControl();
    if (offer.type === "error") {
      throw errorFromPeer(offer.code, offer.message);
    }
    if (offer.type !== "pake") {
      throw new ProtocolError(
        `Expected the peer's pake frame, got ${offer.type}`,
      );
    }
    pairing.onShare?.();
    const gate = pairing.gate;
    if (gate && !await gate.begin()) {
      throw new AuthError(
        `The other side stopped pairing after ${gate.limit} wrong ${
          gate.limit === 1 ? "code" : "codes"
        }; start it again (with a new code)`,
        "locked",
      );
    }
    let ok = false;
    // Whether cB went out: only then could the peer test a guess.
    let exposed = false;
    try {
      const state = pakeStart("B", w, pairing.scalar);
      const result = finish(state, offer.share);
      await writeControl(link, {
        type: "pake",
        share: toHex(state.share),
        confirm: toHex(result.cB),
      });
      // From here on the peer can test its guess against cB: whatever
      // happens next, the attempt counts unless cA proves the code.
      exposed = true;
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
      gate?.end(ok || !exposed);
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

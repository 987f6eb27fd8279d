/**
 * The CPU floor of an encrypted TCP transfer: what moving the bytes costs
 * (nc, both ends, measured in the same run) plus SHA-256 and
 * ChaCha20-Poly1305 once on each end at the speed this runtime gives them
 * in-process. pasa's own CPU is compared with it, per GiB, both ends.
 *
 * @module
 */

import { createCipheriv, createHash } from "node:crypto";

/** Seconds of one core per GiB for each primitive, as pasa calls it. */
export interface CryptoCosts {
  sha256: number;
  chacha20poly1305: number;
}

const CALL = 256 * 1024; // a TCP record, and a hash update of the same size
const PASS = 256 * 2 ** 20; // bytes per timed pass
const GIB = 2 ** 30;

function timeSha256(data: Uint8Array): number {
  const started = performance.now();
  const hash = createHash("sha256");
  for (let done = 0; done < PASS; done += CALL) hash.update(data);
  hash.digest();
  return (performance.now() - started) / 1000;
}

function timeChaCha(data: Uint8Array): number {
  const key = new Uint8Array(32), nonce = new Uint8Array(12);
  const started = performance.now();
  for (let done = 0, n = 0; done < PASS; done += CALL, n++) {
    new DataView(nonce.buffer).setUint32(8, n);
    const c = createCipheriv("chacha20-poly1305", key, nonce, {
      authTagLength: 16,
    });
    c.setAAD(nonce.subarray(0, 4), { plaintextLength: data.length });
    c.update(data);
    c.final();
    c.getAuthTag();
  }
  return (performance.now() - started) / 1000;
}

/** Each primitive's best of `passes` passes of 256 MiB, in 256 KiB calls. */
export function cryptoCosts(passes = 3): CryptoCosts {
  const data = new Uint8Array(CALL);
  crypto.getRandomValues(data.subarray(0, 65536));
  let sha = Infinity, chacha = Infinity;
  for (let i = 0; i < passes; i++) {
    sha = Math.min(sha, timeSha256(data));
    chacha = Math.min(chacha, timeChaCha(data));
  }
  return {
    sha256: sha * GIB / PASS,
    chacha20poly1305: chacha * GIB / PASS,
  };
}

/** What a transfer's CPU is compared with, per GiB, both ends together. */
export interface Floor {
  /** nc's user + system seconds per GiB, both ends. */
  nc: number;
  /** nc, plus SHA-256 on both ends (what `--insecure` must do). */
  insecure: number;
  /** That, plus ChaCha20-Poly1305 on both ends (what encrypted must do). */
  encrypted: number;
}

export function floorOf(ncPerGib: number, costs: CryptoCosts): Floor {
  const insecure = ncPerGib + 2 * costs.sha256;
  return {
    nc: ncPerGib,
    insecure,
    encrypted: insecure + 2 * costs.chacha20poly1305,
  };
}

/**
 * One line: pasa's CPU per GiB (both ends) against its floor, whole
 * process and without the fixed start-up (Deno, pairing) that a 1-byte
 * transfer costs.
 */
export function floorLine(
  name: string,
  perGib: number,
  floor: number,
  startup: number,
  gib: number,
): string {
  const steady = perGib - startup / gib;
  return `  ${name.padEnd(22)} ${perGib.toFixed(2)} core-s/GiB against ${
    floor.toFixed(2)
  }: ${(perGib / floor).toFixed(2)}x; without its ${
    startup.toFixed(2)
  } s of start-up ${steady.toFixed(2)}: ${(steady / floor).toFixed(2)}x`;
}

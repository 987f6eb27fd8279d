/**
 * What verifying and encrypting cost on this machine, in-process: SHA-256
 * and ChaCha20-Poly1305 as pasa calls them (256 KiB at a time), per core.
 * `pasa bench --cost` reports it apart from the network figures, and the
 * project's benchmark compares a transfer's CPU with it.
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

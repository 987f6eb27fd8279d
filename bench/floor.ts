/**
 * The CPU floor of an encrypted TCP transfer: what moving the bytes costs
 * (nc, both ends, measured in the same run) plus SHA-256 and
 * ChaCha20-Poly1305 once on each end at the speed this runtime gives them
 * in-process. pasa's own CPU is compared with it, per GiB, both ends.
 *
 * @module
 */

import type { CryptoCosts } from "../lib/crypto_costs.ts";

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

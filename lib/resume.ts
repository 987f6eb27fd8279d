/**
 * Resuming interrupted transfers (PROTOCOL.md section 5.3): the receiver
 * offers the prefixes it kept, with their SHA-256; the sender checks each
 * against its own file and answers where each body starts. Both ends keep
 * the running hash of the prefix, so the final digest covers the whole file.
 *
 * @module
 */

import type { Hash } from "node:crypto";
import { errorFromPeer, PasaError, ProtocolError } from "./errors.ts";
import { type FrameReader, writeControl } from "./frames.ts";
import type { Target } from "./fsio.ts";
import { hashPrefix, type PrefixHash } from "./hash.ts";
import type { Link } from "./link.ts";
import type { Entry, ResumeOffer } from "./protocol.ts";
import type { ReceiveOptions } from "./receive.ts";
import type { SendOptions } from "./send.ts";
import type { Source } from "./sources.ts";
import { slotPayload } from "./udp.ts";

/** A resumable prefix: its length, digest and running hash. */
export interface Prefix extends PrefixHash {
  offset: number;
}

/** Errors after which the `.part` is kept for resuming. */
export function resumable(error: unknown): boolean {
  return error instanceof PasaError &&
    ["network", "timeout", "interrupted", "truncated", "disk"].includes(
      error.code,
    );
}

/** Hashes the `.part` files interrupted transfers left, to offer them for resuming. */
export async function findPrefixes(
  dest: Target,
  files: readonly Entry[],
  present: Set<string>,
  options: ReceiveOptions,
  align = 1,
): Promise<Map<number, Prefix>> {
  const found = new Map<number, Prefix>();
  for (let index = 0; index < files.length; index++) {
    const entry = files[index]!;
    if (entry.type !== "file" || entry.size === null) continue;
    if (present.has(entry.path)) {
      // The whole file may already be here: offer all of it.
      options.onChecking?.(entry.path, entry.size);
      const whole = await hashPrefix(dest.localPath(entry.path), entry.size);
      if (whole) found.set(index, { ...whole, offset: entry.size });
      continue;
    }
    const size = await dest.partSize(entry.path);
    // A part longer than the file is not a prefix of it: it will be replaced.
    if (size === null || size > entry.size) continue;
    const have = Math.floor(size / align) * align;
    if (have === 0) continue;
    options.onChecking?.(entry.path, have);
    const prefix = await hashPrefix(dest.partPath(entry.path), have);
    if (prefix) found.set(index, { ...prefix, offset: have });
  }
  return found;
}

/** Reads the sender's `resume` answer: where each offered file's body starts. */
export async function readResume(
  reader: FrameReader,
  offered: Map<number, Prefix>,
): Promise<Map<number, number>> {
  const m = await reader.readControl();
  if (m.type === "error") throw errorFromPeer(m.code, m.message, "Sender");
  if (m.type !== "resume") {
    throw new ProtocolError(`Expected resume, got ${m.type}`);
  }
  const starts = new Map<number, number>();
  for (const { index, offset } of m.files) {
    const offer = offered.get(index);
    if (!offer || (offset !== 0 && offset !== offer.offset)) {
      throw new ProtocolError(
        `Sender resumes file ${index} at ${offset}, which was not offered`,
      );
    }
    starts.set(index, offset);
  }
  return starts;
}

/**
 * Answers the prefixes a receiver offers: each is checked against the
 * local file's own prefix (re-hashed here), and resumed only if the
 * digests match. Returns where each resumed file's body starts, with the
 * running hash of its prefix.
 */
export async function answerResume(
  link: Link,
  sources: readonly Source[],
  offers: readonly ResumeOffer[],
  options: SendOptions,
): Promise<Map<number, { offset: number; hash: Hash }>> {
  const files = sources.filter((s) => s.entry.type === "file");
  const starts = new Map<number, { offset: number; hash: Hash }>();
  const answers: { index: number; offset: number }[] = [];
  for (const offer of offers) {
    const source = files[offer.index];
    if (source === undefined) {
      throw new ProtocolError(
        `Receiver offered a prefix of file ${offer.index}, which was not sent`,
      );
    }
    const entry = source.entry;
    const size = entry.type === "file" ? entry.size : null;
    let offset = 0;
    // Only local files can resume: standard input and generated payloads start over.
    // Over UDP a prefix must be whole slots, and a finished file is not skipped.
    const payload = options.udp
      ? slotPayload(options.udp.datagramSize, link.datagramKeys !== undefined)
      : 1;
    const fits = size !== null && offer.offset <= size &&
      (!options.udp || (offer.offset % payload === 0 && offer.offset < size));
    if (!options.noResume && typeof source.local === "string" && fits) {
      options.onChecking?.(entry.path, offer.offset);
      const prefix = await hashPrefix(source.local, offer.offset);
      if (prefix && prefix.sha256 === offer.sha256) {
        offset = offer.offset;
        starts.set(offer.index, { offset, hash: prefix.hash });
      } else options.onRestart?.(entry.path);
    }
    answers.push({ index: offer.index, offset });
  }
  await writeControl(link, { type: "resume", files: answers });
  return starts;
}

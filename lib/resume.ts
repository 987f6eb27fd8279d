/**
 * Resuming interrupted transfers (PROTOCOL.md section 5.3): the receiver
 * offers the length of each prefix it kept (never its digest); the sender
 * claims the prefixes it has, with the SHA-256 of its own first bytes; the
 * receiver answers where each body starts. Both ends keep the running hash
 * of the prefix, so the final digest covers the whole file.
 *
 * Over UDP a cut leaves holes: the receiver also offers the whole slots it
 * has past the prefix, as byte ranges; the sender proves them with one
 * SHA-256 of its own bytes there, and then sends only what is missing.
 *
 * @module
 */

import type { Hash } from "node:crypto";
import { errorFromPeer, PasaError, ProtocolError } from "./errors.ts";
import type { FrameReader } from "./frames.ts";
import { Collector } from "./heap.ts";
import { Coalescer } from "./coalesce.ts";
import { sendAll } from "./session.ts";
import type { Listings, Present, Target } from "./fsio.ts";
import { createHash } from "node:crypto";
import { hashPrefix, type PrefixHash, scanSlots } from "./hash.ts";
import type { Link } from "./link.ts";
import {
  type Entry,
  MAX_RESUME_RANGES,
  type Message,
  type ResumeClaim,
  type ResumeOffer,
} from "./protocol.ts";
import type { ReceiveOptions } from "./receive.ts";
import type { SendOptions } from "./send.ts";
import type { Source } from "./sources.ts";
import { slotPayload } from "./udp.ts";

/** A full collection every this many resume frames read (lib/heap.ts). */
const FRAMES_PER_COLLECTION = 16384;

/**
 * A resumable prefix: its length, digest and running hash. A whole file
 * offered `unchanged` (same size and modification time as announced) is
 * hashed only if the sender claims it with a digest after all.
 */
export interface Prefix extends Partial<PrefixHash> {
  offset: number;
  /** Offered unchanged: the whole file is hashed only if a claim asks. */
  unchanged?: true;
  /** The sender claimed it unchanged: taken as it is, no body follows. */
  takenUnchanged?: boolean;
  /** The whole file, under its final name (`offset` is its size). */
  whole?: true;
  /**
   * Over UDP, the sender proved the whole file the same (or it is empty):
   * delivered as it is, no body follows.
   */
  takenWhole?: boolean;
  /** UDP: whole slots kept past the prefix (byte ranges), and their digest. */
  ranges?: [number, number][];
  rangesSha256?: string;
  /** The ranges the sender proved, once the exchange is settled. */
  accepted?: [number, number][];
}

/**
 * Whether a file already under its final name is the one announced, by
 * size and modification time alone (the receiver set that time when it
 * delivered the file). Without an announced time, never.
 */
export function looksUnchanged(
  there: { size: number; mtime: number | null },
  entry: { size: number | null; mtime?: number },
): boolean {
  return entry.size !== null && there.size === entry.size &&
    entry.mtime !== undefined && there.mtime === entry.mtime;
}

/** What a resumed file starts from, on the sending side. */
export interface SendStart {
  offset: number;
  /** The running hash of the first `offset` bytes. */
  hash: Hash;
  /** UDP: byte ranges past `offset` the receiver has, not to be sent. */
  ranges?: [number, number][];
}

/** Errors after which the `.part` is kept for resuming. */
export function resumable(error: unknown): boolean {
  return error instanceof PasaError &&
    ["network", "timeout", "interrupted", "truncated", "disk", "dropped"]
      .includes(
        error.code,
      );
}

/**
 * Hashes the `.part` files interrupted transfers left, and the files
 * already under their names, to offer them for resuming. Without `parts`
 * (a measurement), only the files already under their names.
 */
export async function findPrefixes(
  dest: Target,
  files: readonly Entry[],
  present: Present,
  options: ReceiveOptions,
  align = 1,
  parts = true,
  stop?: () => void,
): Promise<Map<number, Prefix>> {
  const found = new Map<number, Prefix>();
  const listings: Listings = new Map();
  for (let index = 0; index < files.length; index++) {
    const entry = files[index]!;
    if (entry.type !== "file" || entry.size === null) continue;
    const there = present.get(entry.path);
    if (there) {
      // The whole file may already be here: offer all of it. With the
      // announced size and time it is offered unchanged, read only if the
      // sender asks for a digest after all.
      if (looksUnchanged(there, entry)) {
        found.set(index, { offset: entry.size, unchanged: true, whole: true });
        continue;
      }
      if (entry.size > 0) options.onChecking?.(entry.path, entry.size);
      const hashed = await hashPrefix(
        dest.localPath(entry.path),
        entry.size,
        undefined,
        stop,
      );
      if (hashed) {
        found.set(index, { ...hashed, offset: entry.size, whole: true });
      }
      continue;
    }
    if (!parts) continue; // a measurement (--lossy) resumes no part
    const size = await dest.partSize(entry.path, listings);
    // A part longer than the file is not a prefix of it: it will be replaced.
    if (size === null || size > entry.size) continue;
    if (align > 1) {
      // Over UDP: the whole slots it has, with or without holes.
      options.onChecking?.(entry.path, size);
      const kept = await scanSlots(
        dest.partPath(entry.path),
        entry.size,
        align,
        MAX_RESUME_RANGES,
        stop,
      );
      if (kept && (kept.offset > 0 || kept.ranges.length > 0)) {
        found.set(index, kept);
      }
      continue;
    }
    const have = Math.floor(size / align) * align;
    if (have === 0) continue;
    options.onChecking?.(entry.path, have);
    const prefix = await hashPrefix(
      dest.partPath(entry.path),
      have,
      undefined,
      stop,
    );
    if (prefix) found.set(index, { ...prefix, offset: have });
  }
  return found;
}

/** How the receiver settles the exchange ({@link settleResume}). */
export interface SettleOptions {
  /** File `index`'s path, to hash a file offered unchanged when a claim asks. */
  localPath: (index: number) => string;
  /**
   * Given the starts, runs between the claims and the answers (refuse what
   * clashes; over UDP, be ready for datagrams, which follow the last answer
   * at once).
   */
  beforeAnswers?: (starts: Map<number, number>) => Promise<unknown>;
  /**
   * Over UDP: a whole file answered at its size is delivered as it is, with
   * no body (PROTOCOL.md 5.3).
   */
  wholeAsIs?: boolean;
}

/**
 * The receiver's half of the exchange, once its `accept` (with `offers`)
 * is out: one `resume-offer` per prefix (length only, never its digest),
 * then one `resume-answer` per claim the sender makes: the claimed offset
 * if the sender's digest equals the receiver's, else 0. Returns where each
 * offered file's body starts.
 */
export async function settleResume(
  reader: FrameReader,
  send: (message: Message) => Promise<void>,
  offered: Map<number, Prefix>,
  options: SettleOptions,
): Promise<Map<number, number>> {
  // The offers go out while the claims are read: a sender that claims as
  // it reads would otherwise fill both directions' buffers and wait forever.
  const offering = sendAll(
    send,
    mapped(offered, ([index, prefix]): Message => ({
      type: "resume-offer",
      index,
      offset: prefix.offset,
      ...(prefix.ranges?.length ? { ranges: prefix.ranges } : {}),
      ...(prefix.unchanged ? { unchanged: true as const } : {}),
    })),
  );
  offering.catch(() => {}); // awaited below, after the claims
  const starts = new Map<number, number>();
  const heap = new Collector(FRAMES_PER_COLLECTION);
  for (const [index, prefix] of offered) {
    const claim = await reader.readControl();
    heap.tick(); // each frame read leaves garbage behind
    if (claim.type === "error") {
      throw errorFromPeer(claim.code, claim.message, "Sender");
    }
    if (claim.type !== "resume-claim" || claim.index !== index) {
      throw new ProtocolError(
        `Expected resume-claim for file ${index}, got ${claim.type}`,
      );
    }
    if (claim.offset !== 0 && claim.offset !== prefix.offset) {
      throw new ProtocolError(
        `Sender resumes file ${index} at ${claim.offset}, which was not offered`,
      );
    }
    if (claim.unchanged) {
      // At the offer's own offset: the file's size, 0 for an empty one.
      if (!prefix.unchanged || claim.offset !== prefix.offset) {
        throw new ProtocolError(
          `Sender claims file ${index} unchanged at ${claim.offset}, which was not offered so`,
        );
      }
      prefix.takenUnchanged = true;
      starts.set(index, claim.offset);
      continue;
    }
    if (claim.offset > 0 && prefix.unchanged && !prefix.sha256) {
      // Offered unchanged, but the sender compares contents: hash it now.
      Object.assign(
        prefix,
        await hashPrefix(options.localPath(index), prefix.offset),
      );
    }
    const same = claim.offset > 0 && prefix.sha256 !== undefined &&
      claim.sha256 === prefix.sha256;
    const start = same ? claim.offset : 0;
    starts.set(index, start);
    // The whole file, the sender's (or empty, as the sender's is).
    if (options.wholeAsIs && prefix.whole && start === prefix.offset) {
      prefix.takenWhole = true;
    }
    if (
      prefix.ranges?.length && claim.rangesSha256 !== undefined &&
      claim.rangesSha256 === prefix.rangesSha256
    ) prefix.accepted = prefix.ranges;
  }
  await offering;
  await options.beforeAnswers?.(starts);
  await sendAll(
    send,
    mapped(starts, ([index, offset]): Message => {
      const prefix = offered.get(index);
      const ranges = prefix?.accepted;
      return {
        type: "resume-answer",
        index,
        offset,
        ...(ranges ? { ranges } : {}),
        ...(prefix?.takenUnchanged ? { unchanged: true as const } : {}),
      };
    }),
  );
  return starts;
}

/** `f` of each item of `items`, made as they are read. */
function* mapped<T, U>(items: Iterable<T>, f: (item: T) => U): Iterable<U> {
  for (const item of items) yield f(item);
}

/**
 * The sender's half: reads `count` offers, claims each prefix it can prove
 * (re-hashing its own first bytes) and declines the rest, then reads the
 * receiver's answers. Returns where each resumed file's body starts, with
 * the running hash of its prefix.
 */
export async function claimResume(
  link: Link,
  reader: FrameReader,
  sources: readonly Source[],
  count: number,
  options: SendOptions,
): Promise<Settled> {
  const files = sources.filter((s) => s.entry.type === "file");
  const claims = new Map<
    number,
    {
      offset: number;
      hash?: Hash;
      ranges?: [number, number][];
      unchanged?: boolean;
    }
  >();
  // Over UDP a prefix must be whole slots, and a finished file is not skipped.
  const payload = options.udp
    ? slotPayload(options.udp.datagramSize, link.datagramKeys !== undefined)
    : 1;
  // Every offer first: the receiver sends them all before it reads a claim.
  const offers: ResumeOffer[] = [];
  const heap = new Collector(FRAMES_PER_COLLECTION);
  for (let k = 0; k < count; k++) {
    const offer = await reader.readControl();
    heap.tick();
    if (offer.type === "error") {
      throw errorFromPeer(offer.code, offer.message, "Receiver");
    }
    if (offer.type !== "resume-offer") {
      throw new ProtocolError(`Expected resume-offer, got ${offer.type}`);
    }
    offers.push(offer);
  }
  // Claims are gathered into few writes; hashing one may take a while, so
  // what is gathered goes out before each hash.
  const out = new Coalescer(link);
  for (const offer of offers) {
    const source = files[offer.index];
    if (source === undefined || claims.has(offer.index)) {
      throw new ProtocolError(
        `Receiver offered a prefix of file ${offer.index}, which was not sent or was offered twice`,
      );
    }
    const entry = source.entry;
    const size = entry.type === "file" ? entry.size : null;
    // Over UDP a prefix is whole slots, short of the file's end; an offer
    // of the whole file is one already under its name (PROTOCOL.md 5.3).
    const whole = size !== null && offer.offset === size;
    // A measurement (--lossy) never resumes a part.
    const parts = !options.wholeFilesOnly && !options.udp?.lossy;
    const fits = size !== null && offer.offset <= size &&
      (!options.udp || offer.offset % payload === 0 || whole) &&
      (whole || parts);
    let claim: ResumeClaim = {
      type: "resume-claim",
      index: offer.index,
      offset: 0,
    };
    let hash: Hash | undefined;
    // Only local files can resume: standard input and generated payloads start over.
    let ranges: [number, number][] | undefined;
    const local = !options.noResume && typeof source.local === "string"
      ? source.local
      : undefined;
    if (local && offer.unchanged && whole && !options.check) {
      // Same size and time as the file announced: taken without reading it.
      claims.set(offer.index, { offset: offer.offset, unchanged: true });
      await out.writeControl({ ...claim, offset: size, unchanged: true });
      continue;
    }
    if (local && fits) {
      await out.flush();
      // Over UDP the whole slots past the prefix are read and hashed too.
      const checked = options.udp && offer.ranges
        ? offer.ranges.reduce((sum, [, length]) => sum + length, offer.offset)
        : offer.offset;
      options.onChecking?.(entry.path, checked);
      const prefix = await hashPrefix(local, offer.offset);
      if (prefix && offer.offset > 0) {
        claim = { ...claim, offset: offer.offset, sha256: prefix.sha256 };
        hash = prefix.hash;
      }
      if (prefix && offer.ranges && options.udp) {
        const digest = await hashRanges(
          local,
          offer.ranges,
          offer.offset,
          size!,
          payload,
        );
        if (digest) {
          claim = { ...claim, rangesSha256: digest };
          ranges = offer.ranges;
        }
      }
    }
    claims.set(offer.index, {
      offset: claim.offset,
      ...(hash ? { hash } : {}),
      ...(ranges ? { ranges } : {}),
    });
    await out.writeControl(claim);
  }
  await out.flush();
  const starts = new Map<number, SendStart>();
  const unchanged = new Set<number>();
  const asIs = new Map<number, string>();
  for (const [index, claim] of claims) {
    const answer = await reader.readControl();
    heap.tick();
    if (answer.type === "error") {
      throw errorFromPeer(answer.code, answer.message, "Receiver");
    }
    if (answer.type !== "resume-answer" || answer.index !== index) {
      throw new ProtocolError(
        `Expected resume-answer for file ${index}, got ${answer.type}`,
      );
    }
    if (answer.offset !== 0 && answer.offset !== claim.offset) {
      throw new ProtocolError(
        `Receiver resumes file ${index} at ${answer.offset}, which was not claimed`,
      );
    }
    if ((answer.unchanged ?? false) !== (claim.unchanged ?? false)) {
      throw new ProtocolError(
        `Receiver ${
          answer.unchanged ? "takes" : "does not take"
        } file ${index} unchanged, which was ${
          claim.unchanged ? "" : "not "
        }claimed so`,
      );
    }
    if (claim.unchanged) {
      if (answer.offset !== claim.offset) {
        throw new ProtocolError(
          `Receiver answered an unchanged claim of file ${index} with offset ${answer.offset}`,
        );
      }
      unchanged.add(index);
      continue;
    }
    const size = (files[index]!.entry as { size: number | null }).size;
    if (options.udp && answer.offset === size) {
      // Over UDP the whole file, proved the same (or empty): nothing follows.
      asIs.set(index, size > 0 ? claim.hash!.digest("hex") : EMPTY_SHA256);
      continue;
    }
    if (
      answer.ranges &&
      JSON.stringify(answer.ranges) !== JSON.stringify(claim.ranges)
    ) {
      throw new ProtocolError(
        `Receiver keeps ranges of file ${index} that were not claimed`,
      );
    }
    if (answer.offset > 0 || answer.ranges) {
      starts.set(index, {
        offset: answer.offset,
        hash: answer.offset > 0 ? claim.hash! : createHash("sha256"),
        ...(answer.ranges ? { ranges: answer.ranges } : {}),
      });
    } else if (claim.offset > 0 || claim.ranges) {
      options.onRestart?.(files[index]!.entry.path);
    }
  }
  return { starts, unchanged, asIs };
}

/** SHA-256 of nothing: an empty file's digest. */
const EMPTY_SHA256 =
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/** Where the sender's resumed files start, and which it need not send at all. */
export interface Settled {
  starts: Map<number, SendStart>;
  /** Files the receiver took unchanged: no body, `file-end` or `file-ok`. */
  unchanged: Set<number>;
  /**
   * Over UDP, files the receiver has whole, proved by their SHA-256 (here):
   * no body, `file-end` or `file-ok` either.
   */
  asIs: Map<number, string>;
}

/**
 * SHA-256 of the bytes of `ranges` of the file at `path`, one after the
 * other; null when a range is not whole slots of the file past `from`.
 */
async function hashRanges(
  path: string,
  ranges: [number, number][],
  from: number,
  size: number,
  slot: number,
): Promise<string | null> {
  for (const [start, length] of ranges) {
    const whole = length % slot === 0 || start + length === size;
    if (start < from || start % slot !== 0 || start + length > size || !whole) {
      return null;
    }
  }
  const hash = createHash("sha256");
  using file = await Deno.open(path, { read: true });
  const buf = new Uint8Array(1024 * 1024);
  for (const [start, length] of ranges) {
    await file.seek(start, Deno.SeekMode.Start);
    for (let done = 0; done < length;) {
      const n = await file.read(
        buf.subarray(0, Math.min(buf.length, length - done)),
      );
      if (n === null) return null;
      hash.update(buf.subarray(0, n));
      done += n;
    }
  }
  return hash.digest("hex");
}

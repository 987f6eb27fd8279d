/**
 * Wire protocol v1: the constants, limits and control messages that
 * PROTOCOL.md specifies. Everything here works on bytes and plain objects.
 *
 * A session, from either side:
 *  1. an 8-byte preamble, `PASA` + version (u16 BE) + flags (u16 BE);
 *  2. control frames: u32 BE length (at most {@link MAX_CONTROL_FRAME}) + UTF-8 JSON;
 *     both sides start with `hello`, then the sender sends `manifest` frames
 *     and the receiver answers `accept` (or `error`);
 *  3. per file: body chunks, u32 BE length (at most {@link MAX_CHUNK}) + bytes,
 *     ended by a zero-length chunk, then a `file-end` frame with the SHA-256;
 *     the receiver answers `file-ok` once the file is verified, synced and
 *     renamed, and `done` after the last one.
 *
 * @module
 */

import { ProtocolError } from "./errors.ts";

/** The four bytes every pasa session starts with: ASCII `PASA`. */
export const MAGIC = new Uint8Array([0x50, 0x41, 0x53, 0x41]);
/** The protocol version this implementation speaks. */
export const VERSION = 1;
/** Size of the preamble each side sends first. */
export const PREAMBLE_SIZE = 8;
/** Largest control frame payload accepted, checked before allocating. */
export const MAX_CONTROL_FRAME = 64 * 1024;
/** Largest body chunk accepted. */
export const MAX_CHUNK = 16 * 1024 * 1024;
/** Body chunk size pasa sends. */
export const CHUNK_SIZE = 1024 * 1024;
/** Chunk length that aborts the current file; an `error` frame follows. */
export const ABORT_CHUNK = 0xffff_ffff;
/** Most manifest entries one transfer may carry. */
export const MAX_ENTRIES = 1_000_000;
/**
 * Most memory one manifest may take on the receiver, as counted by
 * {@link manifestCost}: about a million entries with paths of 130 bytes.
 */
export const MAX_MANIFEST_MEMORY = 256 * 1024 * 1024;
/** Latest modification time accepted: the end of year 9999, in ms since the epoch. */
export const MAX_MTIME = 253_402_300_799_999;

/**
 * What an entry counts against {@link MAX_MANIFEST_MEMORY} and a
 * receiver's budget: its path's length plus 128 for the rest of it.
 */
export function manifestCost(entry: Entry): number {
  return entry.path.length + 128;
}

/** Most entries pasa puts in one `manifest` frame (keeps frames far under the cap). */
export const ENTRIES_PER_FRAME = 200;
/** Largest size in the classic `--raw` format: its header is a u32. */
export const RAW_MAX_SIZE = 0xffff_ffff;

/** Which end of a transfer a peer is. */
export type Role = "sender" | "receiver";

/** One item of the manifest: a file (with size, or `null` if unknown) or a directory. */
export type Entry =
  | {
    path: string;
    type: "file";
    size: number | null;
    /** Permission bits (0 to 0o777), where the sender's platform has them. */
    mode?: number;
    /** Modification time, milliseconds since the Unix epoch. */
    mtime?: number;
  }
  | { path: string; type: "dir" };

/** Each side's first control message. */
export interface Hello {
  type: "hello";
  role: Role;
  software: string;
  /** Session security modes this peer accepts, preferred first: see secure.ts. */
  security: string[];
}
/** A batch of manifest entries; `last` marks the final batch. */
export interface Manifest {
  type: "manifest";
  entries: Entry[];
  last: boolean;
}
/** The receiver takes the whole manifest. */
export interface Accept {
  type: "accept";
  security: string;
  /**
   * For a UDP transfer: the transfer id every datagram must carry, and how
   * many slots one datagram may carry (absent: 1).
   */
  udp?: { transfer: number; slotsPerDatagram?: number };
  /**
   * How many `resume-offer` frames follow: files of which the receiver
   * already has a prefix (absent: none).
   */
  offers?: number;
  /** A measurement's bodies are checked against the `bench` frame's pattern: nobody hashes them. */
  pattern?: true;
}
/**
 * The receiver has the first `offset` bytes of file `index` (a part kept
 * from an interrupted transfer, or the whole file). It never says their
 * digest: the sender must prove it has the same bytes.
 */
export interface ResumeOffer {
  type: "resume-offer";
  index: number;
  offset: number;
  /**
   * The whole file is here under its final name with the announced size and
   * modification time (`offset` is the size): the sender may claim it
   * unchanged without a digest (PROTOCOL.md 5.3).
   */
  unchanged?: true;
  /**
   * UDP only: more whole slots kept past the prefix, as `[start, length]`
   * byte ranges, sorted and apart (at most {@link MAX_RESUME_RANGES}).
   */
  ranges?: [number, number][];
}
/**
 * The sender's answer to one offer: `offset` and the SHA-256 of its own
 * first `offset` bytes to resume there, or `offset` 0 (no digest) to start
 * the file over.
 */
export interface ResumeClaim {
  type: "resume-claim";
  index: number;
  offset: number;
  sha256?: string;
  /** SHA-256 of the sender's bytes in the offered ranges, one after the other. */
  rangesSha256?: string;
  /** Claims an `unchanged` offer by size and modification time alone (no `sha256`). */
  unchanged?: true;
}
/**
 * The receiver's verdict on one claim: where the file's body starts, the
 * claimed offset when the digests matched, else 0.
 */
export interface ResumeAnswer {
  type: "resume-answer";
  index: number;
  offset: number;
  /** The offered ranges, when the sender's digest of them matched. */
  ranges?: [number, number][];
  /** The file is taken as it is: no body, `file-end` or `file-ok` follows for it. */
  unchanged?: true;
}
/** Sent by the sender before the manifest: verify the data, then discard it (`pasa bench`). */
export interface Bench {
  type: "bench";
  /**
   * The seed of a generated payload (64 hex digits, PROTOCOL.md 6.2): a
   * receiver that says `pattern: true` in its accept compares each byte
   * with it instead of hashing.
   */
  pattern?: string;
}
/**
 * Sent by a `pasa bench --reverse` client that said it is a receiver: the
 * other side sends it a generated payload, as a measurement.
 */
export interface BenchRequest {
  type: "bench-request";
  /** Payload bytes; null with `durationMs` (TCP only). */
  size: number | null;
  /** Send for this long instead of a size. */
  durationMs: number | null;
  /** Move the payload over UDP to this port of the client's address. */
  udp: {
    datagramSize: number;
    lossy: boolean;
    rate: number | null;
    port: number;
  } | null;
}
/** Sent by the sender before the manifest to move file bodies over UDP. */
export interface UdpRequest {
  type: "udp-request";
  /** Datagram size the sender will use, header included. */
  datagramSize: number;
  /** One pass, no repair: measure loss, keep the file only as `.part`. */
  lossy: boolean;
  /** Most slots the sender would put in one datagram (absent: 1). */
  slotsPerDatagram?: number;
}
/** The receiver's running count, sent about every 100 ms during a UDP transfer. */
export interface UdpReport {
  type: "udp-report";
  /** Datagrams received so far (duplicates included). */
  received: number;
  /** Highest sequence number seen + 1: how many the sender has sent, as far as the receiver knows. */
  expected: number;
  /** Of `received`, those at probe positions (sequence % 8 == 7); absent from older receivers. */
  probes?: number;
}
/** The sender finished a pass over a file (first pass or a repair). */
export interface UdpPassEnd {
  type: "udp-pass-end";
  index: number;
  /** Datagrams sent so far in this transfer (the next sequence number). */
  sent: number;
  retransmittedBytes: number;
  /** The sender's current rate, bits per second. */
  rate: number;
}
/** Slots still missing after a pass, as `[first slot, count]` ranges. */
export interface UdpMissing {
  type: "udp-missing";
  index: number;
  ranges: [number, number][];
}
/** Every slot of the file arrived (or, with `lossy`, the one pass is over). */
export interface UdpFileDone {
  type: "udp-file-done";
  index: number;
  complete: boolean;
}
/** Sent by the sender after a file's closing zero-length chunk. */
export interface FileEnd {
  type: "file-end";
  index: number;
  size: number;
  sha256: string;
}
/** Sent by the receiver once a file is verified, synced and renamed. */
export interface FileOk {
  type: "file-ok";
  index: number;
  sha256: string;
}
/** Sent by the receiver after the last file. */
export interface Done {
  type: "done";
  files: number;
  bytes: number;
  /** For a UDP transfer: the receiver's statistics. */
  udp?: Record<string, number | boolean>;
}
/** Either side ends the session with an error; see PROTOCOL.md for codes. */
export interface ErrorMessage {
  type: "error";
  code: string;
  message: string;
}

/** Every control message of protocol v1. */
/**
 * SPAKE2 share (RFC 9382): from A (the side that connected) first; B's
 * answer also carries its confirmation MAC `cB`.
 */
export interface Pake {
  type: "pake";
  /** Uncompressed SEC1 P-256 point, 130 lowercase hex digits. */
  share: string;
  /** B only: HMAC-SHA256 confirmation, 64 lowercase hex digits. */
  confirm?: string;
}
/** A's confirmation MAC `cA`: the last plaintext frame of a secure session. */
export interface PakeConfirm {
  type: "pake-confirm";
  confirm: string;
}

export type Message =
  | Hello
  | Pake
  | PakeConfirm
  | Manifest
  | Accept
  | ResumeOffer
  | ResumeClaim
  | ResumeAnswer
  | Bench
  | BenchRequest
  | UdpRequest
  | UdpReport
  | UdpPassEnd
  | UdpMissing
  | UdpFileDone
  | FileEnd
  | FileOk
  | Done
  | ErrorMessage;

/** The 8-byte preamble a peer sends first. */
export function encodePreamble(version = VERSION): Uint8Array {
  const bytes = new Uint8Array(PREAMBLE_SIZE);
  bytes.set(MAGIC, 0);
  new DataView(bytes.buffer).setUint16(4, version);
  return bytes;
}

/**
 * Reads a peer's preamble and returns its version. Throws a ProtocolError
 * with code `not-pasa` when the magic is wrong, with a hint when the bytes
 * look like the classic size-prefixed format.
 */
export function decodePreamble(bytes: Uint8Array): number {
  if (bytes.length !== PREAMBLE_SIZE) {
    throw new RangeError(`Preamble must be ${PREAMBLE_SIZE} bytes`);
  }
  const magicOk = MAGIC.every((b, i) => bytes[i] === b);
  if (!magicOk) {
    const hex = Array.from(
      bytes.subarray(0, 4),
      (b) => b.toString(16).padStart(2, "0"),
    ).join(" ");
    throw new ProtocolError(
      `Peer is not speaking the pasa protocol: it began with bytes ${hex}` +
        " (if it sends the classic 4-byte size and then the data, use --raw)",
      "not-pasa",
    );
  }
  return new DataView(bytes.buffer, bytes.byteOffset).getUint16(4);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Encodes a control message as a whole frame: u32 BE length + JSON. */
export function encodeControl(message: Message): Uint8Array {
  const json = encoder.encode(JSON.stringify(message));
  if (json.length > MAX_CONTROL_FRAME) {
    throw new RangeError(
      `Control frame of ${json.length} bytes is over the ${MAX_CONTROL_FRAME}-byte limit`,
    );
  }
  const frame = new Uint8Array(4 + json.length);
  new DataView(frame.buffer).setUint32(0, json.length);
  frame.set(json, 4);
  return frame;
}

/**
 * Encodes `message` as a control frame into `target` at `at`, without
 * allocating one: returns the frame's length, or -1 when it does not fit
 * there (nothing usable is written then). Thousands of frames sent back to
 * back (resume offers, acknowledgements) would otherwise each leave two
 * buffers outside the JavaScript heap for the collector to find late.
 */
export function encodeControlInto(
  message: Message,
  target: Uint8Array,
  at: number,
): number {
  if (at + 4 > target.length) return -1;
  const text = JSON.stringify(message);
  const { read, written } = encoder.encodeInto(text, target.subarray(at + 4));
  if (read < text.length) return -1;
  if (written > MAX_CONTROL_FRAME) {
    throw new RangeError(
      `Control frame of ${written} bytes is over the ${MAX_CONTROL_FRAME}-byte limit`,
    );
  }
  target[at] = written >>> 24;
  target[at + 1] = (written >>> 16) & 0xff;
  target[at + 2] = (written >>> 8) & 0xff;
  target[at + 3] = written & 0xff;
  return 4 + written;
}

/** Checks a control frame's declared length before anything is allocated. */
export function checkControlLength(length: number): void {
  if (length > MAX_CONTROL_FRAME) {
    throw new ProtocolError(
      `Control frame of ${length} bytes is over the ${MAX_CONTROL_FRAME}-byte limit`,
    );
  }
  if (length === 0) throw new ProtocolError("Control frame is empty");
}

/** Checks a body chunk's declared length; {@link ABORT_CHUNK} is allowed. */
export function checkChunkLength(length: number): void {
  if (length > MAX_CHUNK && length !== ABORT_CHUNK) {
    throw new ProtocolError(
      `Chunk of ${length} bytes is over the ${MAX_CHUNK}-byte limit`,
    );
  }
}

type Json = Record<string, unknown>;

function fail(what: string): never {
  throw new ProtocolError(`Malformed control message: ${what}`);
}
/** The optional `unchanged` member: absent, or `true`. */
function unchangedOf(o: Json): boolean {
  if (o.unchanged === undefined) return false;
  if (o.unchanged !== true) fail(`"unchanged" must be true`);
  return true;
}
function str(o: Json, key: string): string {
  const v = o[key];
  if (typeof v !== "string") fail(`"${key}" must be a string`);
  return v;
}
/** Most slots one datagram may carry (a datagram stays under 65,000 bytes anyway). */
export const MAX_SLOTS_PER_DATAGRAM = 64;

/** Most byte ranges one resume offer may list. */
export const MAX_RESUME_RANGES = 1000;

/** `ranges`: sorted, apart, non-empty `[start, length]` pairs. */
function byteRanges(o: Json): [number, number][] {
  const r = o.ranges;
  let end = -1;
  if (
    !Array.isArray(r) || r.length > MAX_RESUME_RANGES ||
    !r.every((pair) => {
      const ok = Array.isArray(pair) && pair.length === 2 &&
        pair.every((n) =>
          typeof n === "number" && Number.isSafeInteger(n) && n >= 0
        ) && pair[1] > 0 && pair[0] > end;
      if (ok) end = pair[0] + pair[1];
      return ok;
    })
  ) {
    fail(
      `"ranges" must be at most ${MAX_RESUME_RANGES} sorted, apart [start, length] pairs`,
    );
  }
  return r as [number, number][];
}

function slotsOf(o: Json): number {
  const n = count(o, "slotsPerDatagram");
  if (n < 1 || n > MAX_SLOTS_PER_DATAGRAM) {
    fail(`"slotsPerDatagram" must be 1 to ${MAX_SLOTS_PER_DATAGRAM}`);
  }
  return n;
}

function count(o: Json, key: string): number {
  const v = o[key];
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    fail(`"${key}" must be a non-negative integer`);
  }
  return v;
}
function sha(o: Json, key: string): string {
  const v = str(o, key);
  if (!/^[0-9a-f]{64}$/.test(v)) {
    fail(`"${key}" must be 64 lowercase hex digits`);
  }
  return v;
}

function entryOf(value: unknown): Entry {
  if (typeof value !== "object" || value === null) {
    fail("entry must be an object");
  }
  const o = value as Json;
  const path = str(o, "path");
  if (o.type === "dir") return { path, type: "dir" };
  if (o.type !== "file") fail(`entry "type" must be "file" or "dir"`);
  const size = o.size === null ? null : count(o, "size");
  const entry: Entry = { path, type: "file", size };
  // Optional: a receiver that cannot use them ignores them.
  if (o.mode !== undefined && o.mode !== null) {
    const mode = count(o, "mode");
    if (mode > 0o777) fail(`"mode" must be permission bits, 0 to 0o777`);
    entry.mode = mode;
  }
  if (o.mtime !== undefined && o.mtime !== null) {
    const mtime = count(o, "mtime");
    if (mtime > MAX_MTIME) fail(`"mtime" must be before the year 10000`);
    entry.mtime = mtime;
  }
  return entry;
}

/**
 * Decodes and validates a control frame's payload. Unknown fields are
 * ignored (forward compatibility); unknown types and wrong shapes throw a
 * ProtocolError. Paths are not judged here: see `checkWirePath`.
 */
export function decodeControl(payload: Uint8Array): Message {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(payload));
  } catch (cause) {
    throw new ProtocolError("Control frame is not UTF-8 JSON", "protocol", {
      cause,
    });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    fail("not a JSON object");
  }
  const o = value as Json;
  switch (o.type) {
    case "hello": {
      if (o.role !== "sender" && o.role !== "receiver") {
        fail(`"role" must be "sender" or "receiver"`);
      }
      const security = o.security;
      if (
        !Array.isArray(security) || security.some((s) => typeof s !== "string")
      ) fail(`"security" must be a list of strings`);
      return {
        type: "hello",
        role: o.role,
        software: typeof o.software === "string" ? o.software : "",
        security: security as string[],
      };
    }
    case "manifest": {
      if (!Array.isArray(o.entries)) fail(`"entries" must be a list`);
      if (typeof o.last !== "boolean") fail(`"last" must be true or false`);
      return {
        type: "manifest",
        entries: o.entries.map(entryOf),
        last: o.last,
      };
    }
    case "accept": {
      const accept: Accept = { type: "accept", security: str(o, "security") };
      if (o.udp !== undefined) {
        if (typeof o.udp !== "object" || o.udp === null) {
          fail(`"udp" must be an object`);
        }
        const u = o.udp as Json;
        accept.udp = { transfer: count(u, "transfer") };
        if (u.slotsPerDatagram !== undefined) {
          accept.udp.slotsPerDatagram = slotsOf(u);
        }
      }
      if (o.offers !== undefined) accept.offers = count(o, "offers");
      if (o.pattern === true) accept.pattern = true;
      else if (o.pattern !== undefined) fail(`"pattern" must be true`);
      return accept;
    }
    case "resume-offer":
    case "resume-answer":
      return {
        type: o.type,
        index: count(o, "index"),
        offset: count(o, "offset"),
        ...(o.ranges !== undefined ? { ranges: byteRanges(o) } : {}),
        ...(unchangedOf(o) ? { unchanged: true as const } : {}),
      };
    case "resume-claim": {
      const claim: ResumeClaim = {
        type: "resume-claim",
        index: count(o, "index"),
        offset: count(o, "offset"),
      };
      if (unchangedOf(o)) {
        if (claim.offset === 0) fail(`an "unchanged" claim needs the offset`);
        claim.unchanged = true;
      } else if (claim.offset > 0) claim.sha256 = sha(o, "sha256");
      if (o.rangesSha256 !== undefined) {
        claim.rangesSha256 = sha(o, "rangesSha256");
      }
      return claim;
    }
    case "bench":
      return o.pattern === undefined
        ? { type: "bench" }
        : { type: "bench", pattern: sha(o, "pattern") };
    case "bench-request": {
      const size = o.size === null ? null : count(o, "size");
      const durationMs = o.durationMs === null ? null : count(o, "durationMs");
      if (size === null && durationMs === null) {
        fail(`a bench request needs "size" or "durationMs"`);
      }
      let udp: BenchRequest["udp"] = null;
      if (o.udp !== null && o.udp !== undefined) {
        if (typeof o.udp !== "object") fail(`"udp" must be an object or null`);
        const u = o.udp as Json;
        if (typeof u.lossy !== "boolean") fail(`"lossy" must be true or false`);
        udp = {
          datagramSize: count(u, "datagramSize"),
          lossy: u.lossy,
          rate: u.rate === null ? null : count(u, "rate"),
          port: count(u, "port"),
        };
        if (size === null) fail("a UDP bench request needs a size");
      }
      return { type: "bench-request", size, durationMs, udp };
    }
    case "udp-request":
      if (typeof o.lossy !== "boolean") fail(`"lossy" must be true or false`);
      return {
        type: "udp-request",
        datagramSize: count(o, "datagramSize"),
        lossy: o.lossy,
        ...(o.slotsPerDatagram !== undefined
          ? { slotsPerDatagram: slotsOf(o) }
          : {}),
      };
    case "udp-report":
      return {
        type: "udp-report",
        received: count(o, "received"),
        expected: count(o, "expected"),
        ...(o.probes !== undefined ? { probes: count(o, "probes") } : {}),
      };
    case "udp-pass-end":
      return {
        type: "udp-pass-end",
        index: count(o, "index"),
        sent: count(o, "sent"),
        retransmittedBytes: count(o, "retransmittedBytes"),
        rate: count(o, "rate"),
      };
    case "udp-missing": {
      const ranges = o.ranges;
      if (
        !Array.isArray(ranges) ||
        !ranges.every((r) =>
          Array.isArray(r) && r.length === 2 &&
          r.every((n) =>
            typeof n === "number" && Number.isSafeInteger(n) && n >= 0
          )
        )
      ) fail(`"ranges" must be a list of [first, count] pairs`);
      return {
        type: "udp-missing",
        index: count(o, "index"),
        ranges: ranges as [number, number][],
      };
    }
    case "udp-file-done":
      if (typeof o.complete !== "boolean") {
        fail(`"complete" must be true or false`);
      }
      return {
        type: "udp-file-done",
        index: count(o, "index"),
        complete: o.complete,
      };
    case "file-end":
      return {
        type: "file-end",
        index: count(o, "index"),
        size: count(o, "size"),
        sha256: sha(o, "sha256"),
      };
    case "file-ok":
      return {
        type: "file-ok",
        index: count(o, "index"),
        sha256: sha(o, "sha256"),
      };
    case "done": {
      const done: Done = {
        type: "done",
        files: count(o, "files"),
        bytes: count(o, "bytes"),
      };
      if (typeof o.udp === "object" && o.udp !== null) {
        const udp: Record<string, number | boolean> = {};
        for (const [k, v] of Object.entries(o.udp)) {
          if (
            typeof v === "boolean" ||
            (typeof v === "number" && Number.isFinite(v))
          ) udp[k] = v;
        }
        done.udp = udp;
      }
      return done;
    }
    case "pake": {
      const share = str(o, "share");
      if (!/^04[0-9a-f]{128}$/.test(share)) {
        fail(`"share" must be an uncompressed P-256 point in hex`);
      }
      const pake: Pake = { type: "pake", share };
      if (o.confirm !== undefined) pake.confirm = sha(o, "confirm");
      return pake;
    }
    case "pake-confirm":
      return { type: "pake-confirm", confirm: sha(o, "confirm") };
    case "error":
      return {
        type: "error",
        code: str(o, "code"),
        message: str(o, "message"),
      };
    default:
      fail(`unknown type ${JSON.stringify(o.type)}`);
  }
}

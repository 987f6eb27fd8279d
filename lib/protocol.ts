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
import { type Entry, type Message, parseMessage } from "./messages.ts";

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

export type {
  Accept,
  Bench,
  BenchRequest,
  Done,
  Entry,
  ErrorMessage,
  FileEnd,
  FileOk,
  Hello,
  Manifest,
  Message,
  Pake,
  PakeConfirm,
  ResumeAnswer,
  ResumeClaim,
  ResumeOffer,
  UdpFileDone,
  UdpMissing,
  UdpPassEnd,
  UdpReport,
  UdpRequest,
} from "./messages.ts";
export {
  MAX_MTIME,
  MAX_RESUME_RANGES,
  MAX_SLOTS_PER_DATAGRAM,
} from "./messages.ts";

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

/**
 * Decodes and validates a control frame's payload against the message
 * schemas of lib/messages.ts. Unknown fields are dropped (forward
 * compatibility); unknown types and wrong shapes throw a ProtocolError.
 * Paths are not judged here: see `checkWirePath`.
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
    throw new ProtocolError("Malformed control message: not a JSON object");
  }
  const parsed = parseMessage(value);
  if ("why" in parsed) {
    throw new ProtocolError(`Malformed control message: ${parsed.why}`);
  }
  return parsed.message;
}

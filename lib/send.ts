/**
 * The sender's side of a session: handshake, manifest, then each file's
 * body in chunks, hashed as it is read, while a second task collects the
 * receiver's acknowledgements. The sender succeeds only once the receiver
 * has confirmed every file.
 *
 * @module
 */

import { createHash } from "node:crypto";
import {
  errorFromPeer,
  NetworkError,
  PasaError,
  ProtocolError,
} from "./errors.ts";
import {
  type ByteSource,
  FrameReader,
  writeAll,
  writeControl,
} from "./frames.ts";
import type { Link } from "./link.ts";
import { displayName } from "./names.ts";
import {
  ABORT_CHUNK,
  CHUNK_SIZE,
  encodeControl,
  ENTRIES_PER_FRAME,
} from "./protocol.ts";
import {
  type FileResult,
  handshake,
  hangUp,
  shouldReport,
  type TransferResult,
  TransferState,
} from "./session.ts";
import type { Source } from "./sources.ts";
import { rate } from "./units.ts";

/** Options of {@link sendSession}. */
export interface SendOptions {
  /** Counters for a progress bar. @default {a new TransferState} */
  state?: TransferState;
  /** Where a source with `local: null` reads from. */
  stdin?: ByteSource;
  /** Name of the peer, for results. @default {""} */
  peer?: string;
  /** Called once per file when the receiver confirms it. */
  onFile?: (file: FileResult) => void;
  /** Called with the manifest once the receiver accepted it. */
  onAccepted?: () => void;
}

interface Pending {
  name: string;
  started: number;
  bytes: number;
  sha256: string;
}

/** Sends `sources` over `link` and returns once every file is confirmed. */
export async function sendSession(
  link: Link,
  sources: readonly Source[],
  options: SendOptions = {},
): Promise<TransferResult> {
  const state = options.state ?? new TransferState();
  const reader = new FrameReader(link, { bufferSize: 128 * 1024 });
  const started = performance.now();
  try {
    await handshake(link, reader, "sender");
    const entries = sources.map((s) => s.entry);
    state.setManifest(entries);
    for (let i = 0; i < entries.length || i === 0; i += ENTRIES_PER_FRAME) {
      const batch = entries.slice(i, i + ENTRIES_PER_FRAME);
      const last = i + ENTRIES_PER_FRAME >= entries.length;
      await writeControl(link, { type: "manifest", entries: batch, last });
    }
    const reply = await reader.readControl();
    if (reply.type === "error") {
      throw errorFromPeer(reply.code, reply.message, "Receiver");
    }
    if (reply.type !== "accept") {
      throw new ProtocolError(`Expected accept or error, got ${reply.type}`);
    }
    options.onAccepted?.();

    const files: FileResult[] = [];
    const pending: Pending[] = [];
    const fileCount = entries.filter((e) => e.type === "file").length;
    let failed: PasaError | undefined;
    const acks = collectAcks(reader, fileCount, pending, (file) => {
      files.push(file);
      options.onFile?.(file);
    }).catch((error) => {
      failed = error instanceof PasaError
        ? error
        : new ProtocolError(String(error));
      throw failed;
    });
    acks.catch(() => {}); // observed below; avoid an unhandled rejection meanwhile

    const buffers = bodyBuffers();
    let index = 0;
    try {
      for (const source of sources) {
        if (source.entry.type !== "file") continue;
        const entry = source.entry;
        state.beginFile(index, entry.path, entry.size);
        const item: Pending = {
          name: entry.path,
          started: performance.now(),
          bytes: 0,
          sha256: "",
        };
        const input = source.local === null
          ? options.stdin
          : await openFile(source.local!);
        if (input === undefined) {
          throw new TypeError("No standard input to send from");
        }
        try {
          const hash = createHash("sha256");
          const sent = await streamBody(link, input, entry.size, hash, state, {
            framed: true,
            failed: () => failed,
            buffers,
          });
          item.bytes = sent;
          item.sha256 = hash.digest("hex");
        } catch (error) {
          if (failed || !(error instanceof PasaError) || error.code !== "io") {
            throw error;
          }
          // Tell the receiver this file is abandoned, then fail.
          const header = new Uint8Array(4);
          new DataView(header.buffer).setUint32(0, ABORT_CHUNK);
          await writeAll(link, header);
          await writeControl(link, {
            type: "error",
            code: error.code,
            message: error.message,
          });
          throw error;
        } finally {
          if (input !== options.stdin) (input as Deno.FsFile).close();
        }
        pending.push(item);
        const end = encodeControl({
          type: "file-end",
          index,
          size: item.bytes,
          sha256: item.sha256,
        });
        const frame = new Uint8Array(4 + end.length);
        frame.set(end, 4); // bytes 0..3 stay zero: the closing zero-length chunk
        await writeAll(link, frame);
        index++;
      }
    } catch (error) {
      // A receiver that stopped us mid-stream says why in an error frame.
      await acks.catch(() => {});
      throw failed ?? error;
    }
    await acks;
    link.close();
    const seconds = (performance.now() - started) / 1000;
    const bytes = files.reduce((sum, f) => sum + f.bytes, 0);
    return {
      role: "sender",
      peer: options.peer ?? "",
      files,
      dirs: entries.length - fileCount,
      bytes,
      seconds,
      bytesPerSecond: rate(bytes, seconds),
      verified: true,
    };
  } catch (error) {
    await hangUp(link, { report: shouldReport(error) ? error : undefined });
    throw error;
  }
}

async function openFile(path: string): Promise<Deno.FsFile> {
  try {
    return await Deno.open(path, { read: true });
  } catch (error) {
    throw new NetworkError(
      `Cannot open ${displayName(path)}: ${
        error instanceof Error ? error.message : error
      }`,
      "io",
      { cause: error },
    );
  }
}

/** Options of {@link streamBody}. */
export interface BodyOptions {
  /** Put a u32 chunk header before each payload (false: bare bytes, for --raw). */
  framed: boolean;
  /** Returns an error that should stop the stream (e.g. the peer's). */
  failed?: () => PasaError | undefined;
  /** From {@link bodyBuffers}, shared by all bodies of a session. */
  buffers: Uint8Array[];
}

/**
 * Streams one body from `input`: exactly `size` bytes, or to end of input
 * when `size` is null. Two buffers alternate so the next read from disk
 * overlaps the previous write to the socket; a chunk's header is written in
 * place in front of its payload, so one write sends both. Returns the count.
 */
export async function streamBody(
  link: Link,
  input: ByteSource,
  size: number | null,
  hash: ReturnType<typeof createHash>,
  state: TransferState,
  options: BodyOptions,
): Promise<number> {
  const head = options.framed ? 4 : 0;
  const buffers = options.buffers;
  let sent = 0;
  let flight: Promise<void> | undefined;
  let which = 0;
  try {
    while (size === null || sent < size) {
      const buf = buffers[which]!;
      const room = size === null
        ? CHUNK_SIZE
        : Math.min(CHUNK_SIZE, size - sent);
      let n: number | null;
      try {
        n = await input.read(buf.subarray(head, head + room));
      } catch (error) {
        throw new NetworkError(
          `Cannot read ${displayName(state.name)}: ${
            error instanceof Error ? error.message : error
          }`,
          "io",
          { cause: error },
        );
      }
      if (n === null) break;
      if (n === 0) continue;
      hash.update(buf.subarray(head, head + n));
      if (head) new DataView(buf.buffer).setUint32(0, n);
      if (flight) await flight;
      const error = options.failed?.();
      if (error) throw error;
      flight = writeAll(link, buf.subarray(0, head + n));
      sent += n;
      state.fileBytes = sent;
      state.doneBytes += n;
      which ^= 1;
    }
    if (flight) await flight;
  } catch (error) {
    await flight?.catch(() => {});
    throw error;
  }
  if (size !== null && sent < size) {
    throw new NetworkError(
      `Cannot send ${
        displayName(state.name)
      }: it shrank from ${size} to ${sent} bytes while being sent`,
      "io",
    );
  }
  return sent;
}

/** The two buffers {@link streamBody} alternates; allocate once per session. */
export function bodyBuffers(): Uint8Array[] {
  return [new Uint8Array(4 + CHUNK_SIZE), new Uint8Array(4 + CHUNK_SIZE)];
}

/** Reads `file-ok` frames (in order) and the final `done`. */
async function collectAcks(
  reader: FrameReader,
  fileCount: number,
  pending: Pending[],
  onFile: (f: FileResult) => void,
): Promise<void> {
  for (let i = 0; i <= fileCount; i++) {
    const message = await reader.readControl().catch((error) => {
      if (error instanceof ProtocolError && error.code === "truncated") {
        throw new NetworkError(
          "Connection closed by the receiver before it confirmed every file",
          "network",
          { cause: error },
        );
      }
      throw error;
    });
    if (message.type === "error") {
      throw errorFromPeer(message.code, message.message, "Receiver");
    }
    if (i === fileCount) {
      if (message.type !== "done") {
        throw new ProtocolError(`Expected done, got ${message.type}`);
      }
      return;
    }
    if (message.type !== "file-ok" || message.index !== i) {
      throw new ProtocolError(
        `Expected file-ok for file ${i}, got ${message.type}`,
      );
    }
    const item = pending[i];
    if (item === undefined || item.sha256 !== message.sha256) {
      throw new ProtocolError(
        `Receiver confirmed file ${i} with a digest that was not sent`,
      );
    }
    const seconds = (performance.now() - item.started) / 1000;
    onFile({
      name: item.name,
      bytes: item.bytes,
      sha256: item.sha256,
      seconds,
      bytesPerSecond: rate(item.bytes, seconds),
    });
  }
}

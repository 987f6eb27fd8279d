/**
 * The receiver's side of a session: handshake, the whole manifest vetted
 * before any byte is written, then each file streamed into its `.part`,
 * hashed on the way, verified against the sender's digest, synced, and
 * renamed. Any failure removes the `.part` and tells the sender why.
 *
 * @module
 */

import { createHash } from "node:crypto";
import {
  errorFromPeer,
  IntegrityError,
  ProtocolError,
  RefusedError,
} from "./errors.ts";
import { FrameReader, writeControl } from "./frames.ts";
import type { Destination, FileSink } from "./fsio.ts";
import type { Link } from "./link.ts";
import { checkWirePath, displayName } from "./names.ts";
import {
  checkChunkLength,
  type Entry,
  MAX_ENTRIES,
  type Message,
} from "./protocol.ts";
import {
  type FileResult,
  handshake,
  hangUp,
  SECURITY_MODES,
  shouldReport,
  type TransferResult,
  TransferState,
} from "./session.ts";
import { formatBytes, rate } from "./units.ts";

/** Options of {@link receiveSession}. */
export interface ReceiveOptions {
  /** Counters for a progress bar. @default {a new TransferState} */
  state?: TransferState;
  /** Name of the peer, for results. @default {""} */
  peer?: string;
  /**
   * Write the single incoming file here instead of into the destination
   * (receive --stdout); a manifest of anything but one file is refused.
   */
  stdout?: FileSink;
  /** Called with the vetted manifest, before any data. */
  onManifest?: (entries: readonly Entry[]) => void;
  /** Called once per file when it is verified and in place. */
  onFile?: (file: FileResult) => void;
}

/** Receives one transfer over `link` into `dest`. */
export async function receiveSession(
  link: Link,
  dest: Destination,
  options: ReceiveOptions = {},
): Promise<TransferResult> {
  const state = options.state ?? new TransferState();
  const reader = new FrameReader(link);
  const started = performance.now();
  let entries: Entry[] | undefined;
  let vetted = false;
  let sink: FileSink | undefined;
  try {
    await handshake(link, reader, "receiver");
    entries = await readManifest(reader);
    if (options.stdout) {
      if (entries.length !== 1 || entries[0]!.type !== "file") {
        throw new RefusedError(
          `Refusing ${entries.length} entries: --stdout takes exactly one file`,
          "not-single-file",
        );
      }
      checkWirePath(entries[0]!.path);
    } else {
      await dest.vet(entries);
      vetted = true;
    }
    state.setManifest(entries);
    options.onManifest?.(entries);
    await writeControl(link, { type: "accept", security: SECURITY_MODES[0]! });
    if (!options.stdout) {
      for (const e of entries) {
        if (e.type === "dir") await dest.makeDirs(e.path);
      }
    }

    const files: FileResult[] = [];
    let index = 0;
    for (const entry of entries) {
      if (entry.type !== "file") continue;
      const fileStart = performance.now();
      state.beginFile(index, entry.path, entry.size);
      sink = options.stdout ?? await dest.open(entry.path);
      const hash = createHash("sha256");
      const received = await receiveBody(
        reader,
        sink,
        hash,
        entry.size,
        dest.maxSize,
        state,
      );
      const end = await reader.readControl();
      if (end.type === "error") {
        throw errorFromPeer(end.code, end.message, "Sender");
      }
      if (end.type !== "file-end" || end.index !== index) {
        throw new ProtocolError(
          `Expected file-end for file ${index}, got ${describe(end)}`,
        );
      }
      if (end.size !== received) {
        throw new ProtocolError(
          `Sender declared ${end.size} bytes for ${
            displayName(entry.path)
          } but sent ${received}`,
        );
      }
      const sha256 = hash.digest("hex");
      if (sha256 !== end.sha256) {
        throw new IntegrityError(
          `SHA-256 mismatch for ${
            displayName(entry.path)
          }: received ${sha256}, sender computed ${end.sha256}`,
        );
      }
      link.touch();
      await sink.commit();
      sink = undefined;
      await writeControl(link, { type: "file-ok", index, sha256 });
      const seconds = (performance.now() - fileStart) / 1000;
      const file = {
        name: entry.path,
        bytes: received,
        sha256,
        seconds,
        bytesPerSecond: rate(received, seconds),
      };
      files.push(file);
      options.onFile?.(file);
      index++;
    }
    const bytes = files.reduce((sum, f) => sum + f.bytes, 0);
    await writeControl(link, { type: "done", files: files.length, bytes });
    link.close();
    const seconds = (performance.now() - started) / 1000;
    return {
      role: "receiver",
      peer: options.peer ?? "",
      files,
      dirs: entries.length - files.length,
      bytes,
      seconds,
      bytesPerSecond: rate(bytes, seconds),
      verified: true,
    };
  } catch (error) {
    await sink?.discard();
    await hangUp(link, { report: shouldReport(error) ? error : undefined });
    throw error;
  } finally {
    if (vetted && entries) dest.release(entries);
  }
}

function describe(message: Message): string {
  return message.type;
}

async function readManifest(reader: FrameReader): Promise<Entry[]> {
  const entries: Entry[] = [];
  for (;;) {
    const message = await reader.readControl();
    if (message.type === "error") {
      throw errorFromPeer(message.code, message.message, "Sender");
    }
    if (message.type !== "manifest") {
      throw new ProtocolError(`Expected a manifest frame, got ${message.type}`);
    }
    if (entries.length + message.entries.length > MAX_ENTRIES) {
      throw new ProtocolError(`Manifest has more than ${MAX_ENTRIES} entries`);
    }
    entries.push(...message.entries);
    if (message.last) return entries;
  }
}

/** Reads one body's chunks into `sink`; returns the byte count. */
async function receiveBody(
  reader: FrameReader,
  sink: FileSink,
  hash: ReturnType<typeof createHash>,
  size: number | null,
  maxSize: number,
  state: TransferState,
): Promise<number> {
  let received = 0;
  for (;;) {
    const length = await reader.readU32("chunk header");
    checkChunkLength(length);
    if (length === 0) break;
    if (length === 0xffff_ffff) {
      const why = await reader.readControl();
      if (why.type === "error") {
        throw errorFromPeer(why.code, why.message, "Sender");
      }
      throw new ProtocolError("Sender aborted the file without saying why");
    }
    if (size !== null && received + length > size) {
      throw new ProtocolError(
        `Sender sent more than the ${size} bytes it declared for ${
          displayName(state.name)
        }`,
      );
    }
    if (state.doneBytes + length > maxSize) {
      throw new RefusedError(
        `Refusing more than --max-size ${formatBytes(maxSize)} of data`,
        "too-large",
      );
    }
    let remaining = length;
    while (remaining > 0) {
      const piece = await reader.piece(remaining);
      if (piece === null) {
        throw new ProtocolError(
          `Stream ended inside ${
            displayName(state.name)
          } after ${received} bytes`,
          "truncated",
        );
      }
      hash.update(piece);
      await sink.write(piece);
      remaining -= piece.length;
      received += piece.length;
      state.fileBytes = received;
      state.doneBytes += piece.length;
    }
  }
  if (size !== null && received !== size) {
    throw new ProtocolError(
      `Stream for ${
        displayName(state.name)
      } ended after ${received} of ${size} bytes`,
      "truncated",
    );
  }
  return received;
}

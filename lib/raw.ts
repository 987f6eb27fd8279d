/**
 * The classic format of the course notes pasa comes from, kept for
 * interoperability with their Python examples and with nc: a 4-byte
 * big-endian unsigned size, then exactly that many bytes. No name, no
 * hash, no acknowledgement; sizes of 4 GiB and over cannot be expressed.
 * pasa still hashes locally on both sides so users can compare by eye.
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";
import { ProtocolError, RefusedError, UsageError } from "./errors.ts";
import { type ByteSource, FrameReader, writeAll } from "./frames.ts";
import type { FileSink } from "./fsio.ts";
import type { Link } from "./link.ts";
import { displayName } from "./names.ts";
import { RAW_MAX_SIZE } from "./protocol.ts";
import { bodyBuffers, streamBody } from "./chunks.ts";
import { hangUp, TransferState } from "./session.ts";
import { formatBytes, rate } from "./units.ts";

/** The outcome of a raw transfer, from one side. */
export interface RawResult {
  name: string;
  bytes: number;
  /** SHA-256 computed locally: the raw format carries none to check against. */
  sha256: string;
  seconds: number;
  bytesPerSecond: number;
}

/** Throws a UsageError when `size` cannot be sent in the raw format. */
export function checkRawSize(size: number | null, name: string): void {
  if (size === null) {
    throw new UsageError(
      "Cannot send standard input with --raw: the classic format needs the size before the data",
    );
  }
  if (size > RAW_MAX_SIZE) {
    throw new UsageError(
      `Cannot send ${displayName(name)} with --raw: it is ${
        formatBytes(size)
      }, and the classic ` +
        `format's 4-byte header caps files at ${RAW_MAX_SIZE} bytes (4 GiB - 1); drop --raw to use pasa's protocol`,
    );
  }
}

/** Sends `size` bytes of `input` in the classic format, then closes. */
export async function rawSend(
  link: Link,
  input: ByteSource,
  name: string,
  size: number,
  state = new TransferState(),
): Promise<RawResult> {
  checkRawSize(size, name);
  const started = performance.now();
  state.setManifest([{ path: name, type: "file", size }]);
  state.beginFile(0, name, size);
  const header = new Uint8Array(4);
  new DataView(header.buffer).setUint32(0, size);
  await writeAll(link, header);
  const hash = createHash("sha256");
  await streamBody(link, input, size, hash, state, {
    framed: false,
    buffers: bodyBuffers(),
  });
  await hangUp(link);
  return resultOf(name, size, hash, started);
}

/** Receives one file in the classic format into `sink`. */
export async function rawReceive(
  link: Link,
  sink: FileSink,
  name: string,
  maxSize = Infinity,
  state = new TransferState(),
): Promise<RawResult> {
  const started = performance.now();
  const reader = new FrameReader(link);
  try {
    const size = await reader.readU32("size header");
    if (size > maxSize) {
      throw new RefusedError(
        `Refusing ${formatBytes(size)}: over the receiver's --max-size of ${
          formatBytes(maxSize)
        }`,
        "too-large",
      );
    }
    state.setManifest([{ path: name, type: "file", size }]);
    state.beginFile(0, name, size);
    const hash = createHash("sha256");
    let received = 0;
    while (received < size) {
      const piece = await reader.piece(size - received);
      if (piece === null) {
        throw new ProtocolError(
          `Stream ended after ${received} of the ${size} bytes the header announced`,
          "truncated",
        );
      }
      hash.update(piece);
      await sink.write(piece);
      received += piece.length;
      state.fileBytes = received;
      state.doneBytes = received;
    }
    await sink.commit();
    link.close();
    return resultOf(name, size, hash, started);
  } catch (error) {
    await sink.discard();
    link.close();
    throw error;
  }
}

/** The result of a raw transfer of `size` bytes that began at `started`. */
function resultOf(
  name: string,
  size: number,
  hash: Hash,
  started: number,
): RawResult {
  const seconds = (performance.now() - started) / 1000;
  return {
    name,
    bytes: size,
    sha256: hash.digest("hex"),
    seconds,
    bytesPerSecond: rate(size, seconds),
  };
}

/**
 * A body as chunks on a stream (PROTOCOL.md section 5; bare bytes for the
 * classic `--raw` format): what both `pasa send` over TCP and `--raw` write.
 *
 * @module
 */

import type { createHash } from "node:crypto";
import { NetworkError, PasaError } from "./errors.ts";
import { type ByteSink, type ByteSource, writeAll } from "./frames.ts";
import { displayName } from "./names.ts";
import { CHUNK_SIZE } from "./protocol.ts";
import type { TransferState } from "./session.ts";

/** Options of {@link streamBody}. */
export interface BodyOptions {
  /** Put a u32 chunk header before each payload (false: bare bytes, for --raw). */
  framed: boolean;
  /** Returns an error that should stop the stream (e.g. the peer's). */
  failed?: () => PasaError | undefined;
  /** From {@link bodyBuffers}, shared by all bodies of a session. */
  buffers: Uint8Array[];
  /** Bytes of this file sent before (a resumed prefix), for progress. @default {0} */
  startAt?: number;
}

/**
 * Streams one body from `input`: exactly `size` bytes, or to end of input
 * when `size` is null. Two buffers alternate so the next read from disk
 * overlaps the previous write to the socket; a chunk's header is written in
 * place in front of its payload, so one write sends both. Returns the count.
 */
export async function streamBody(
  link: ByteSink,
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
        if (error instanceof PasaError) throw error; // Ctrl-C, as it is
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
      // Awaited after the next read; until then a failure must not count as unhandled.
      flight.catch(() => {});
      sent += n;
      state.fileBytes = (options.startAt ?? 0) + sent;
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

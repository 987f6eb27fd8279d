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
  type Done,
  encodeControl,
  ENTRIES_PER_FRAME,
  type Message,
} from "./protocol.ts";
import {
  type FileResult,
  handshake,
  hangUp,
  shouldReport,
  type TransferResult,
  TransferState,
} from "./session.ts";
import { claimResume, type SendStart } from "./resume.ts";
import { FileInput, type Input } from "./payload.ts";
import type { Source } from "./sources.ts";
import {
  openUdp,
  senderStats,
  sendUdpFile,
  udpDispatcher,
  type UdpSendContext,
  type UdpSendOptions,
} from "./udp_send.ts";
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
  /** Move file bodies as UDP datagrams instead of over the TCP connection. */
  udp?: UdpSendOptions;
  /** A measurement: the receiver verifies the data, then discards it. */
  bench?: boolean;
  /** The handshake already happened on `link`; read its frames with this reader. */
  handshaken?: FrameReader;
  /** Start every file over, whatever the receiver already has. */
  noResume?: boolean;
  /** Called before re-hashing the prefix the receiver offers. */
  onChecking?: (name: string, bytes: number) => void;
  /** Called when a file continues after a verified prefix. */
  /** A file continues: `offset` bytes of prefix, `kept` bytes in all (UDP: slots past it too). */
  onResumed?: (name: string, offset: number, kept: number) => void;
  /** Called when the receiver's prefix differs from the file: it starts over. */
  onRestart?: (name: string) => void;
  /** Called when the receiver already has the whole file (same SHA-256): nothing is sent. */
  onSkipped?: (name: string) => void;
}

interface Pending {
  name: string;
  started: number;
  bytes: number;
  sha256: string;
  /** False for a `--lossy` file that did not arrive whole (no ack comes). */
  complete: boolean;
}

/** Sends `sources` over `link` and returns once every file is confirmed. */
export async function sendSession(
  link: Link,
  sources: readonly Source[],
  options: SendOptions = {},
): Promise<TransferResult> {
  const state = options.state ?? new TransferState();
  const reader = options.handshaken ??
    new FrameReader(link, { bufferSize: 128 * 1024 });
  const started = performance.now();
  let udp: UdpSendContext | undefined;
  try {
    if (!options.handshaken) await handshake(link, reader, "sender");
    const entries = sources.map((s) => s.entry);
    state.setManifest(entries);
    if (options.bench) await writeControl(link, { type: "bench" });
    if (options.udp) {
      const slots = options.udp.slotsPerDatagram ?? 1;
      await writeControl(link, {
        type: "udp-request",
        datagramSize: options.udp.datagramSize,
        lossy: options.udp.lossy,
        ...(slots > 1 ? { slotsPerDatagram: slots } : {}),
      });
    }
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
    if (options.udp) {
      if (!reply.udp) {
        throw new ProtocolError(
          "Receiver accepted a UDP transfer without a transfer id",
        );
      }
      udp = openUdp(link, reply.udp, options.udp, state);
    }
    options.onAccepted?.();
    const starts = reply.offers
      ? await claimResume(link, reader, sources, reply.offers, options)
      : new Map<number, SendStart>();

    const files: FileResult[] = [];
    const pending: Pending[] = [];
    const fileCount = entries.filter((e) => e.type === "file").length;
    let failed: PasaError | undefined;
    const replies = readReplies(reader, pending, {
      onFile: (file) => {
        files.push(file);
        options.onFile?.(file);
      },
      ...(udp ? { onUdp: udpDispatcher(udp) } : {}),
    }).catch((error) => {
      failed = error instanceof PasaError
        ? error
        : new ProtocolError(String(error));
      udp?.inbox.fail(failed);
      throw failed;
    });
    replies.catch(() => {}); // observed below; avoid an unhandled rejection meanwhile

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
          complete: true,
        };
        const input = source.input
          ? source.input()
          : source.local === null
          ? options.stdin
          : await openFile(source.local!);
        if (input === undefined) {
          throw new TypeError("No standard input to send from");
        }
        try {
          if (udp) {
            const start = starts.get(index);
            if (start) {
              const past = (start.ranges ?? []).reduce((a, r) => a + r[1], 0);
              options.onResumed?.(
                entry.path,
                start.offset,
                start.offset + past,
              );
            }
            const { sha256, complete } = await sendUdpFile(
              udp,
              input as Input,
              index,
              entry.size!,
              start,
            );
            Object.assign(item, { bytes: entry.size!, sha256, complete });
          } else {
            // Resuming: skip the verified prefix; the hash already holds it.
            const start = starts.get(index);
            if (start) {
              await (input as FileInput).file.seek(
                start.offset,
                Deno.SeekMode.Start,
              );
              state.doneBytes += start.offset;
              if (start.offset === entry.size) options.onSkipped?.(entry.path);
              else {options.onResumed?.(
                  entry.path,
                  start.offset,
                  start.offset,
                );}
            }
            const offset = start?.offset ?? 0;
            const hash = start?.hash ?? createHash("sha256");
            item.bytes = offset + await streamBody(
              link,
              input,
              entry.size === null ? null : entry.size - offset,
              hash,
              state,
              {
                framed: true,
                failed: () => failed,
                buffers,
                startAt: offset,
              },
            );
            item.sha256 = hash.digest("hex");
          }
        } catch (error) {
          if (
            udp || failed || !(error instanceof PasaError) ||
            error.code !== "io"
          ) throw error;
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
          if (input !== options.stdin) (input as Input).close();
        }
        pending[index] = item;
        if (item.complete) {
          const end = encodeControl({
            type: "file-end",
            index,
            size: item.bytes,
            sha256: item.sha256,
          });
          // Over TCP the closing zero-length chunk comes first: bytes 0..3 stay zero.
          const frame = udp ? end : new Uint8Array(4 + end.length);
          if (!udp) frame.set(end, 4);
          await writeAll(link, frame);
        }
        index++;
      }
    } catch (error) {
      // A receiver that stopped us mid-stream says why in an error frame.
      await replies.catch(() => {});
      throw failed ?? error;
    }
    const done = await replies;
    const incomplete = pending.filter((p) => !p.complete).length;
    if (files.length + incomplete !== fileCount) {
      throw new ProtocolError(
        `Receiver said done after confirming ${files.length} of ${fileCount} files`,
      );
    }
    link.close();
    const seconds = (performance.now() - started) / 1000;
    const bytes = files.reduce((sum, f) => sum + f.bytes, 0);
    const result: TransferResult = {
      role: "sender",
      peer: options.peer ?? "",
      files,
      dirs: entries.length - fileCount,
      bytes,
      seconds,
      bytesPerSecond: rate(bytes, seconds),
      verified: incomplete === 0,
    };
    if (udp) result.udp = senderStats(udp, done, incomplete === 0);
    return result;
  } catch (error) {
    await hangUp(link, { report: shouldReport(error) ? error : undefined });
    throw error;
  } finally {
    udp?.socket.close();
  }
}

async function openFile(path: string): Promise<FileInput> {
  try {
    return new FileInput(await Deno.open(path, { read: true }));
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

/**
 * Reads the receiver's frames until `done`: a `file-ok` per complete file
 * (checked against the digest sent), and in UDP mode reports, missing
 * ranges and per-file verdicts, which go to `onUdp`.
 */
async function readReplies(
  reader: FrameReader,
  pending: Pending[],
  handlers: { onFile: (f: FileResult) => void; onUdp?: (m: Message) => void },
): Promise<Done> {
  for (;;) {
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
    switch (message.type) {
      case "error":
        throw errorFromPeer(message.code, message.message, "Receiver");
      case "done":
        return message;
      case "file-ok": {
        const item = pending[message.index];
        if (item === undefined || item.sha256 !== message.sha256) {
          throw new ProtocolError(
            `Receiver confirmed file ${message.index} with a digest that was not sent`,
          );
        }
        const seconds = (performance.now() - item.started) / 1000;
        handlers.onFile({
          name: item.name,
          bytes: item.bytes,
          sha256: item.sha256,
          seconds,
          bytesPerSecond: rate(item.bytes, seconds),
        });
        break;
      }
      case "udp-report":
      case "udp-missing":
      case "udp-file-done":
        if (handlers.onUdp) {
          handlers.onUdp(message);
          break;
        }
        throw new ProtocolError(`Unexpected ${message.type} in a TCP transfer`);
      default:
        throw new ProtocolError(`Unexpected ${message.type} from the receiver`);
    }
  }
}

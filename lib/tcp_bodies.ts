/**
 * File bodies over the session's own stream: each file as chunks (PROTOCOL.md
 * section 5), hashed and written as they come. A file already here and
 * confirmed by the sender's digest is skipped; a resumed one continues its
 * `.part` after the verified prefix.
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";
import type {
  BodyContext,
  BodySender,
  BodyTransport,
  FileBody,
  FileEntry,
  SendHooks,
  SentBody,
} from "./bodies.ts";
import { bodyBuffers, streamBody } from "./chunks.ts";
import {
  errorFromPeer,
  type PasaError,
  ProtocolError,
  RefusedError,
} from "./errors.ts";
import {
  type ByteSource,
  type FrameReader,
  writeAll,
  writeControl,
} from "./frames.ts";
import type { Link } from "./link.ts";
import type { FileInput } from "./payload.ts";
import type { SendStart } from "./resume.ts";
import type { FileSink, PartFile } from "./fsio.ts";
import { displayName } from "./names.ts";
import { ABORT_CHUNK, checkChunkLength } from "./protocol.ts";
import { resumable } from "./resume.ts";
import type { TransferState } from "./session.ts";
import { formatBytes } from "./units.ts";
import { noDigest, PatternSink } from "./pattern.ts";
import { Coalescer } from "./coalesce.ts";

/** A sink for a skipped file's (empty) body. */
const DISCARD: FileSink = {
  write: () => Promise.resolve(),
  commit: () => Promise.resolve(),
  discard: () => Promise.resolve(),
};

/** Bodies as chunks on the session's stream. */
export class TcpBodies implements BodyTransport {
  readonly align = 1;
  #ctx: BodyContext;
  /** The body being written, until it is committed. */
  #sink: FileSink | undefined;
  #size: number | null = null;

  constructor(ctx: BodyContext) {
    this.#ctx = ctx;
  }

  acceptMember(): undefined {
    return undefined;
  }

  ready(): Promise<void> {
    return Promise.resolve();
  }

  start(): void {}

  async receive(index: number): Promise<FileBody> {
    const { dest, state, options, present, resume } = this.#ctx;
    const entry = this.#ctx.files[index]!;
    state.beginFile(index, entry.path, entry.size);
    // Only a file of known size can be resumed; a cut stream is discarded.
    this.#size = entry.size;
    const start = resume.starts.get(index) ?? 0;
    // A file already there, confirmed by the sender's digest: nothing to
    // write (one it did not confirm was refused, or is replaced: --force).
    const skip = present.has(entry.path) && start === entry.size;
    const checking = this.#ctx.pattern;
    const sink = skip
      ? DISCARD
      : checking
      ? new PatternSink(checking)
      : options.stdout ??
        await dest.open(entry.path, {
          resumeAt: start,
          known: this.#ctx.known,
          ...(entry.mode !== undefined ? { mode: entry.mode } : {}),
        });
    this.#sink = sink;
    if (skip) options.onSkipped?.(entry.path);
    // Resuming: the hash already holds the verified prefix.
    const hash = start > 0
      ? resume.prefixes.get(index)!.hash!
      : checking
      ? noDigest()
      : createHash("sha256");
    if (start > 0 && !skip) options.onResumed?.(entry.path, start);
    const bytes = await receiveBody(
      this.#ctx.reader,
      sink,
      hash,
      entry.size,
      dest.maxSize,
      state,
      start,
    );
    return { bytes, resumed: start, sha256: hash.digest("hex"), sink };
  }

  async commit(body: FileBody, entry: FileEntry): Promise<void> {
    if (body.sink !== DISCARD) await body.sink.commit(entry);
    this.#sink = undefined;
  }

  readonly groupCommit = true;

  handOver(): void {
    this.#sink = undefined;
  }

  async abandon(error: unknown): Promise<void> {
    const sink = this.#sink;
    this.#sink = undefined;
    // A cut connection leaves the .part for the next attempt to resume;
    // anything the data itself caused (integrity, protocol) removes it.
    if (sink && resumable(error) && this.#size !== null) {
      await (sink as Partial<PartFile>).keep?.();
      if (!("partPath" in sink)) return; // --stdout: nothing is kept here
      const part = sink as PartFile;
      const kept = await Deno.stat(part.partPath).then((s) => s.size, () => 0);
      if (kept > 0) {
        this.#ctx.options.onKept?.(part.wirePath, kept, this.#size);
      }
    } else await sink?.discard();
  }

  stats(): Promise<undefined> {
    return Promise.resolve(undefined);
  }

  close(): void {}
}

/** Bodies as chunks on the session's stream, sending. */
export class TcpBodySender implements BodySender {
  readonly onReply = undefined;
  #link: Link;
  #state: TransferState;
  #hooks: SendHooks;
  #failed: () => PasaError | undefined;
  #buffers = bodyBuffers();
  #newHash: () => Hash;
  /** Small files' chunks and ends, gathered into larger writes. */
  #out: Coalescer;
  /** Between a body's first chunk and its end: the receiver reads chunk lengths. */
  midBody = false;

  /**
   * `failed` returns the receiver's error once it sent one: streaming stops.
   * `newHash` makes each body's digest (none for a checked pattern).
   */
  constructor(
    link: Link,
    state: TransferState,
    hooks: SendHooks,
    failed: () => PasaError | undefined,
    newHash: () => Hash = () => createHash("sha256"),
  ) {
    this.#link = link;
    this.#state = state;
    this.#hooks = hooks;
    this.#failed = failed;
    this.#newHash = newHash;
    this.#out = new Coalescer(link);
  }

  async send(
    _index: number,
    entry: FileEntry,
    input: ByteSource,
    start: SendStart | undefined,
  ): Promise<SentBody> {
    // Resuming: skip the verified prefix; the hash already holds it.
    if (start) {
      await (input as FileInput).file.seek(start.offset, Deno.SeekMode.Start);
      this.#state.doneBytes += start.offset;
      if (start.offset === entry.size) this.#hooks.onSkipped?.(entry.path);
      else {
        this.#hooks.onResumed?.(entry.path, start.offset, start.offset);
      }
    }
    const offset = start?.offset ?? 0;
    const hash = start?.hash ?? this.#newHash();
    this.midBody = true;
    const bytes = offset + await streamBody(
      this.#out,
      input,
      entry.size === null ? null : entry.size - offset,
      hash,
      this.#state,
      {
        framed: true,
        failed: this.#failed,
        buffers: this.#buffers,
        startAt: offset,
      },
    );
    return {
      bytes,
      resumed: offset,
      sha256: hash.digest("hex"),
      complete: true,
    };
  }

  async abort(error: PasaError): Promise<void> {
    this.midBody = false;
    const header = new Uint8Array(4);
    new DataView(header.buffer).setUint32(0, ABORT_CHUNK);
    await this.#out.flush(); // what came before goes first
    await writeAll(this.#link, header);
    await writeControl(this.#link, {
      type: "error",
      code: error.code,
      message: error.message,
    });
  }

  /** The closing zero-length chunk comes first: bytes 0..3 stay zero. */
  end(frame: Uint8Array): Promise<void> {
    this.midBody = false;
    const out = new Uint8Array(4 + frame.length);
    out.set(frame, 4);
    return writeAll(this.#out, out);
  }

  flush(): Promise<void> {
    return this.#out.flush();
  }

  fail(): void {}

  stats(): undefined {
    return undefined;
  }

  close(): void {}
}

/** Reads one body's chunks into `sink`; returns the byte count. */
async function receiveBody(
  reader: FrameReader,
  sink: FileSink,
  hash: ReturnType<typeof createHash>,
  size: number | null,
  maxSize: number,
  state: TransferState,
  startAt = 0,
): Promise<number> {
  let received = startAt;
  state.fileBytes = startAt;
  state.doneBytes += startAt;
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
      } ended after ${received} of ${size} bytes: the sender closed the body early`,
      "protocol",
    );
  }
  return received;
}

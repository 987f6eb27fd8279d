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
import { FrameReader } from "./frames.ts";
import type { FileSink, PartFile, Target } from "./fsio.ts";
import type { Link } from "./link.ts";
import { checkWirePath, displayName } from "./names.ts";
import {
  type BenchRequest,
  checkChunkLength,
  type Entry,
  manifestCost,
  MAX_ENTRIES,
  MAX_MANIFEST_MEMORY,
  type UdpRequest,
} from "./protocol.ts";
import {
  type FileResult,
  handshake,
  hangUp,
  securityMode,
  serialWriter,
  shouldReport,
  type TransferResult,
  TransferState,
} from "./session.ts";
import {
  DATAGRAM_SIZE_MAX,
  DATAGRAM_SIZE_MIN,
  SEALED_TAG,
  slotPayload,
  UDP_HEADER,
} from "./udp.ts";
import { DatagramOpener } from "./records.ts";
import {
  ReceiveCounters,
  receivePasses,
  receiverStats,
  type UdpEndpoint,
  UdpFileReceiver,
  type UdpPassContext,
} from "./udp_receive.ts";
import {
  findPrefixes,
  type Prefix,
  resumable,
  settleResume,
} from "./resume.ts";
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
  /** The receiver's datagram socket: UDP transfers are refused without one. */
  udp?: UdpEndpoint;
  /** Where a measurement (`bench` frame) goes instead of `dest`; refused without one. */
  scratch?: Target;
  /** The handshake already happened on `link`; read its frames with this reader. */
  handshaken?: FrameReader;
  /**
   * Serves a `pasa bench --reverse` client (a receiver asking for a payload);
   * without it such a client gets a role error.
   */
  reverse?: (
    request: BenchRequest,
    reader: FrameReader,
  ) => Promise<TransferResult>;
  /**
   * Called once the peer paired (or, `--insecure`, said hello); may throw
   * to refuse it (a receiver with no free transfer slot).
   */
  onHandshake?: () => void;
  /**
   * The receiver's memory for manifests, bound to this peer: `take` says
   * whether `bytes` more may be held; `give` returns them.
   * @default {only the per-manifest limit, MAX_MANIFEST_MEMORY}
   */
  budget?: { take(bytes: number): boolean; give(bytes: number): void };
  /** Called with the vetted manifest, before any data. */
  onManifest?: (entries: readonly Entry[]) => void;
  /** Called once per file when it is verified and in place. */
  onFile?: (file: FileResult) => void;
  /** Called before re-hashing a prefix left by an interrupted transfer. */
  onChecking?: (name: string, bytes: number) => void;
  /** A file continues after `offset` verified bytes; `kept` in all (UDP: whole slots past it too). */
  onResumed?: (name: string, offset: number, kept?: number) => void;
  /** A cut transfer left `bytes` of file `name` (of `size`) as a .part to resume. */
  onKept?: (name: string, bytes: number, size: number | null) => void;
  /** Called when a file already here is confirmed identical and skipped. */
  onSkipped?: (name: string) => void;
}

/** One file's UDP receiver, opened before its datagrams can arrive. */
interface UdpFile {
  part: PartFile;
  handler: UdpFileReceiver;
}

/** Receives one transfer over `link` into `dest`. */
export async function receiveSession(
  link: Link,
  target: Target,
  options: ReceiveOptions = {},
): Promise<TransferResult> {
  const state = options.state ?? new TransferState();
  const reader = options.handshaken ?? new FrameReader(link);
  let dest = target;
  let prefixes = new Map<number, Prefix>();
  let starts = new Map<number, number>();
  let currentUdp: UdpFile | undefined;
  let present = new Set<string>();
  let udpMode = false;
  let liftDeadline = () => {};
  // UDP reports start once the accept is out: nothing may precede it.
  let startReports = () => {};
  let currentSize: number | null = null;
  const started = performance.now();
  // The UDP report timer writes too: one queue keeps frames whole.
  const send = serialWriter(link);
  let entries: Entry[] | undefined;
  let vetted = false;
  let sink: FileSink | undefined;
  const open: UdpFile[] = [];
  let transfer = 0;
  let reports: ReturnType<typeof setInterval> | undefined;
  let held = 0;
  // Directories this session made or found: each is looked up once.
  const known = new Set<string>();
  try {
    // A peer trickling a byte at a time must not hold a connection forever.
    liftDeadline = link.deadline("the handshake and the list of files");
    if (!options.handshaken) {
      const peer = await handshake(link, reader, "receiver", {
        sameRole: options.reverse !== undefined,
      });
      options.onHandshake?.();
      if (peer.role === "receiver") {
        // Only a bench --reverse client may be a receiver too: it asks for a payload.
        const request = await reader.readControl();
        if (request.type !== "bench-request") {
          throw new ProtocolError(
            "Both sides are receivers: run pasa send on the other machine",
            "role",
          );
        }
        liftDeadline();
        return await options.reverse!(request, reader);
      }
    }
    const { entries: list, udp: request, bench } = await readManifest(
      reader,
      (bytes) => {
        if (options.budget && !options.budget.take(bytes)) {
          throw new RefusedError(
            "Receiver is busy: the lists of files it holds take all the memory it allows; try again later",
            "busy",
          );
        }
        held += bytes;
      },
    );
    entries = list;
    if (bench && !options.scratch) {
      throw new ProtocolError(
        "This receiver does not take measurements",
        "bench",
      );
    }
    if (bench && options.stdout) {
      throw new ProtocolError(
        "A receiver writing to --stdout does not take measurements",
        "bench",
      );
    }
    dest = bench ? options.scratch! : target;
    if (request) checkUdpRequest(request, entries, options);
    udpMode = request !== undefined;
    liftDeadline();
    if (options.stdout) {
      if (entries.length !== 1 || entries[0]!.type !== "file") {
        throw new RefusedError(
          `Refusing ${entries.length} entries: --stdout takes exactly one file`,
          "not-single-file",
        );
      }
      checkWirePath(entries[0]!.path);
    } else {
      present = await dest.vet(entries);
      vetted = true;
      // Only a resume offer can confirm a file already there; without one it is a clash.
      if ((request || options.stdout) && present.size > 0 && !dest.force) {
        throw new RefusedError(
          `Refusing to overwrite: ${
            [...present].map(displayName).join(", ")
          } exist (use --force to replace them)`,
          "exists",
        );
      }
    }
    state.setManifest(entries);
    options.onManifest?.(entries);
    const endpoint = request ? options.udp! : undefined;
    if (endpoint) transfer = endpoint.newTransferId();
    const sealed = link.datagramKeys !== undefined;

    const fileEntries = entries.filter((e) => e.type === "file");
    let udp: UdpPassContext | undefined;
    let prepare: ((k: number) => Promise<UdpFile | undefined>) | undefined;
    if (endpoint && request) {
      const counters = new ReceiveCounters();
      // Encrypted: every datagram is opened (tag, then replay check) first.
      const opener = link.datagramKeys
        ? new DatagramOpener(link.datagramKeys.in, (why) => {
          if (why === "replayed") counters.duplicates++;
          else counters.malformed++;
        })
        : undefined;
      const ctx: UdpPassContext = {
        reader,
        send,
        counters,
        lossy: request.lossy,
        endpoint,
        endpointSeen: endpoint.received,
      };
      udp = ctx;
      const payload = slotPayload(request.datagramSize, sealed);
      const perDatagram = slotsPerDatagram(request, payload, sealed);
      prepare = async (k) => {
        const entry = fileEntries[k];
        if (entry === undefined) return undefined;
        state.beginFile(k, entry.path, entry.size);
        // A resumed file continues its .part after the verified prefix,
        // keeping the whole slots past it that the sender proved.
        const offset = starts.get(k) ?? 0;
        const kept = prefixes.get(k)?.accepted;
        const part = await dest.open(entry.path, {
          resumeAt: offset,
          known,
          ...(kept ? { keepTail: true } : {}),
          ...(entry.mode !== undefined ? { mode: entry.mode } : {}),
        });
        const handler = new UdpFileReceiver(
          part.file,
          { size: entry.size!, payload, perDatagram },
          k,
          counters,
          state,
          offset > 0 || kept
            ? {
              offset,
              hash: offset > 0 ? prefixes.get(k)!.hash : createHash("sha256"),
              ...(kept ? { ranges: kept } : {}),
            }
            : undefined,
        );
        if (offset > 0 || kept) {
          const past = (kept ?? []).reduce((a, r) => a + r[1], 0);
          options.onResumed?.(entry.path, offset, offset + past);
        }
        open.push({ part, handler });
        if (opener) opener.inner = handler;
        endpoint.route(transfer, opener ?? handler);
        return { part, handler };
      };
      startReports = () => {
        // Reports are quiet: only datagrams arriving (or frames read) keep the
        // link alive, so a sender that vanished mid-pass still times out.
        // Only new data counts: copies of slots already here (replayed or
        // duplicated datagrams) must not keep a transfer alive forever.
        const fresh = () => state.doneBytes;
        let seen = fresh();
        reports = setInterval(() => {
          if (fresh() !== seen) link.touch();
          seen = fresh();
          send({
            type: "udp-report",
            received: counters.received,
            expected: counters.highest + 1,
            probes: counters.probes,
          }, { quiet: true }).catch(() => {});
        }, 100);
      };
    }

    if (!options.stdout) {
      let made = 0;
      for (const e of entries) {
        if (e.type !== "dir") continue;
        await dest.makeDirs(e.path, known);
        // The sender waits for this work, so it is activity; but once the
        // connection is closed (Ctrl-C, a time-out) nothing more is made.
        if (++made % 256 === 0) link.touch();
        link.ensureOpen("creating directories");
      }
    }
    // Prefixes left by interrupted transfers, offered for resuming. Over UDP
    // they are whole slots, and finished files are not offered (see PROTOCOL.md).
    prefixes = options.stdout ? new Map<number, Prefix>() : await findPrefixes(
      dest,
      fileEntries,
      udp ? new Set() : present,
      options,
      udp ? slotPayload(request!.datagramSize, sealed) : 1,
    );
    // The first file's datagrams follow the accept (or the last resume
    // answer) at once: be ready for them.
    let next: UdpFile | undefined;
    const ready = async () => {
      if (prepare) next = await prepare(0);
    };
    if (prefixes.size === 0) await ready();
    await send({
      type: "accept",
      security: securityMode(link),
      ...(endpoint && request
        ? { udp: udpAccept(transfer, request, sealed) }
        : {}),
      ...(prefixes.size > 0 ? { offers: prefixes.size } : {}),
    });
    if (prefixes.size > 0) {
      starts = await settleResume(reader, send, prefixes, (settled) => {
        starts = settled; // the first file opens at its start
        return ready();
      });
    }
    // Reports only now: nothing may come between the answers.
    startReports();

    const files: FileResult[] = [];
    const incomplete: string[] = [];
    for (let index = 0; index < fileEntries.length; index++) {
      const entry = fileEntries[index]!;
      const fileStart = performance.now();
      let received: number;
      let sha256: string;
      if (udp && prepare) {
        const current = next!;
        currentUdp = current;
        const complete = await receivePasses(udp, current.handler, index);
        next = await prepare(index + 1); // ready before the sender moves on
        await send({ type: "udp-file-done", index, complete });
        if (!complete) {
          await current.part.keep();
          incomplete.push(entry.path);
          continue;
        }
        sink = current.part;
        received = entry.size!;
        sha256 = current.handler.finishHash();
      } else {
        state.beginFile(index, entry.path, entry.size);
        // Only a file of known size can be resumed; a cut stream is discarded.
        currentSize = entry.size;
        const start = starts.get(index) ?? 0;
        // A file already there, confirmed by the sender's digest: nothing to write.
        const skip = present.has(entry.path) && start === entry.size;
        if (present.has(entry.path) && !skip && !dest.force) {
          throw new RefusedError(
            `Refusing to overwrite: ${
              displayName(entry.path)
            } exists and differs from the sender's file (use --force to replace it)`,
            "exists",
          );
        }
        sink = skip ? DISCARD : options.stdout ??
          await dest.open(entry.path, {
            resumeAt: start,
            known,
            ...(entry.mode !== undefined ? { mode: entry.mode } : {}),
          });
        if (skip) options.onSkipped?.(entry.path);
        // Resuming: the hash already holds the verified prefix.
        const hash = start > 0
          ? prefixes.get(index)!.hash
          : createHash("sha256");
        if (start > 0 && !skip) options.onResumed?.(entry.path, start);
        received = await receiveBody(
          reader,
          sink,
          hash,
          entry.size,
          dest.maxSize,
          state,
          start,
        );
        sha256 = hash.digest("hex");
      }
      const end = await reader.readControl();
      if (end.type === "error") {
        throw errorFromPeer(end.code, end.message, "Sender");
      }
      if (end.type !== "file-end" || end.index !== index) {
        throw new ProtocolError(
          `Expected file-end for file ${index}, got ${end.type}`,
        );
      }
      if (end.size !== received) {
        throw new ProtocolError(
          `Sender declared ${end.size} bytes for ${
            displayName(entry.path)
          } but sent ${received}`,
        );
      }
      if (sha256 !== end.sha256) {
        throw new IntegrityError(
          `SHA-256 mismatch for ${
            displayName(entry.path)
          }: received ${sha256}, sender computed ${end.sha256}`,
        );
      }
      link.touch();
      if (sink !== DISCARD) await sink.commit(entry);
      sink = undefined;
      await send({ type: "file-ok", index, sha256 });
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
    }
    clearInterval(reports);
    const bytes = files.reduce((sum, f) => sum + f.bytes, 0);
    const stats = udp && request
      ? receiverStats(
        udp.counters,
        endpoint!.malformed,
        {
          datagramSize: request.datagramSize,
          slotsPerDatagram: slotsPerDatagram(
            request,
            slotPayload(request.datagramSize, sealed),
            sealed,
          ),
        },
        request.lossy,
        incomplete.length === 0,
        udp.lastPassEnd,
      )
      : undefined;
    await send({
      type: "done",
      files: files.length,
      bytes,
      ...(stats
        ? { udp: stats as unknown as Record<string, number | boolean> }
        : {}),
    });
    link.close();
    const seconds = (performance.now() - started) / 1000;
    const result: TransferResult = {
      role: "receiver",
      peer: options.peer ?? "",
      files,
      dirs: entries.length - fileEntries.length,
      bytes,
      seconds,
      bytesPerSecond: rate(bytes, seconds),
      verified: incomplete.length === 0,
    };
    if (stats) result.udp = stats;
    if (incomplete.length > 0) result.incomplete = incomplete;
    return result;
  } catch (error) {
    // A cut connection leaves the .part for the next attempt to resume;
    // anything the data itself caused (integrity, protocol) removes it.
    if (sink && resumable(error) && !udpMode && currentSize !== null) {
      const part = sink as PartFile;
      await part.keep?.();
      const kept = await Deno.stat(part.partPath).then((s) => s.size, () => 0);
      if (kept > 0) options.onKept?.(part.wirePath, kept, currentSize);
    } else if (udpMode && resumable(error) && currentUdp) {
      // Over UDP, keep every whole slot that arrived; the holes read as zeros.
      const kept = currentUdp.handler.keepReceived();
      if (kept > 0) {
        await currentUdp.part.keep();
        options.onKept?.(currentUdp.part.wirePath, kept, state.fileSize);
      } else currentUdp = undefined; // nothing worth keeping: discarded below
    } else await sink?.discard();
    for (const { part } of open) {
      if (part !== currentUdp?.part || !resumable(error)) await part.discard();
    }
    await hangUp(link, { report: shouldReport(error) ? error : undefined });
    throw error;
  } finally {
    liftDeadline();
    clearInterval(reports);
    if (transfer !== 0) options.udp?.route(transfer, undefined);
    if (vetted && entries) dest.release(entries);
    options.budget?.give(held);
  }
}

/** How many slots one datagram may carry here: what the sender asked, within 65,000 bytes. */
function slotsPerDatagram(
  request: UdpRequest,
  payload: number,
  sealed: boolean,
): number {
  const fit = Math.floor(
    (DATAGRAM_SIZE_MAX - UDP_HEADER - (sealed ? SEALED_TAG : 0)) / payload,
  );
  return Math.max(1, Math.min(request.slotsPerDatagram ?? 1, fit));
}

/** The `udp` member of the accept: the transfer id, and the slots per datagram if asked. */
function udpAccept(
  transfer: number,
  request: UdpRequest,
  sealed: boolean,
): { transfer: number; slotsPerDatagram?: number } {
  if (request.slotsPerDatagram === undefined) return { transfer };
  const payload = slotPayload(request.datagramSize, sealed);
  return {
    transfer,
    slotsPerDatagram: slotsPerDatagram(request, payload, sealed),
  };
}

/** Refuses a UDP request this receiver cannot serve. */
function checkUdpRequest(
  request: UdpRequest,
  entries: readonly Entry[],
  options: ReceiveOptions,
): void {
  if (!options.udp) {
    throw new RefusedError(
      "Refusing a UDP transfer: this receiver takes TCP only (run pasa receive --udp)",
      "no-udp",
    );
  }
  if (options.stdout) {
    throw new RefusedError(
      "Refusing a UDP transfer: --stdout needs the bytes in order (send over TCP)",
      "no-udp",
    );
  }
  if (
    request.datagramSize < DATAGRAM_SIZE_MIN ||
    request.datagramSize > DATAGRAM_SIZE_MAX
  ) {
    throw new ProtocolError(
      `Datagram size ${request.datagramSize} is outside ${DATAGRAM_SIZE_MIN} to ${DATAGRAM_SIZE_MAX}`,
    );
  }
  if (entries.some((e) => e.type === "file" && e.size === null)) {
    throw new ProtocolError(
      "A UDP transfer needs every file's size in advance",
    );
  }
}

/**
 * Reads the options and the manifest frames. `charge` is told what each
 * frame's entries cost before they are kept, and throws to refuse them.
 */
async function readManifest(
  reader: FrameReader,
  charge: (bytes: number) => void,
): Promise<{ entries: Entry[]; udp?: UdpRequest; bench: boolean }> {
  const entries: Entry[] = [];
  let udp: UdpRequest | undefined;
  let bench = false;
  let memory = 0;
  for (;;) {
    const message = await reader.readControl();
    if (message.type === "error") {
      throw errorFromPeer(message.code, message.message, "Sender");
    }
    // Options come before the first manifest frame, each at most once.
    if (
      message.type === "udp-request" && entries.length === 0 &&
      udp === undefined
    ) {
      udp = message;
      continue;
    }
    if (
      message.type === "bench" && entries.length === 0 && !bench &&
      udp === undefined
    ) {
      bench = true;
      continue;
    }
    if (message.type !== "manifest") {
      throw new ProtocolError(`Expected a manifest frame, got ${message.type}`);
    }
    if (entries.length + message.entries.length > MAX_ENTRIES) {
      throw new ProtocolError(`Manifest has more than ${MAX_ENTRIES} entries`);
    }
    let cost = 0;
    for (const entry of message.entries) cost += manifestCost(entry);
    if (memory + cost > MAX_MANIFEST_MEMORY) {
      throw new RefusedError(
        `Refusing a list of files over ${
          formatBytes(MAX_MANIFEST_MEMORY)
        } in memory (${entries.length} entries so far)`,
        "too-large",
      );
    }
    charge(cost);
    memory += cost;
    for (const entry of message.entries) entries.push(entry);
    if (message.last) return udp ? { entries, udp, bench } : { entries, bench };
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

/** A sink for a skipped file's (empty) body. */
const DISCARD: FileSink = {
  write: () => Promise.resolve(),
  commit: () => Promise.resolve(),
  discard: () => Promise.resolve(),
};

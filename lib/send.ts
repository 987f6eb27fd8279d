/**
 * The sender's side of a session: handshake, manifest, then each file's
 * body in chunks, hashed as it is read, while a second task collects the
 * receiver's acknowledgements. The sender succeeds only once the receiver
 * has confirmed every file.
 *
 * @module
 */

import {
  errorFromPeer,
  NetworkError,
  PasaError,
  ProtocolError,
} from "./errors.ts";
import { type ByteSource, FrameReader, writeControl } from "./frames.ts";
import type { Link } from "./link.ts";
import { displayName } from "./names.ts";
import {
  type Done,
  encodeControl,
  ENTRIES_PER_FRAME,
  type Entry,
  type Message,
} from "./protocol.ts";
import {
  type FileResult,
  handshake,
  hangUp,
  shouldReport,
  type TransferResult,
  TransferState,
  withDeadline,
} from "./session.ts";
import { claimResume, type SendStart } from "./resume.ts";
import { FileInput, type Input } from "./payload.ts";
import type { Source } from "./sources.ts";
import { openUdp, type UdpSendOptions } from "./udp_send.ts";
import type { Seat } from "./group_seat.ts";
import type { BodySender } from "./bodies.ts";
import { TcpBodySender } from "./tcp_bodies.ts";
import { UdpBodySender } from "./udp_bodies.ts";
import { addUnchanged, fileResult, Ledger } from "./accounting.ts";
import { noDigest, type Pattern } from "./pattern.ts";
import { createHash } from "node:crypto";
import { collectAfter, Collector } from "./heap.ts";

/** A full collection every this many files sent (lib/heap.ts). */
const FILES_PER_COLLECTION = 4096;

/**
 * How long a sender that failed mid-transfer waits for the receiver's own
 * word (an `error` frame that explains a broken connection) before it
 * reports its failure and hangs up.
 */
export const REPLY_GRACE_MS = 1000;

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
  /** With `udp`: the bodies go to a group of receivers, this one among them (lib/group_send.ts). */
  group?: Seat;
  /** A measurement: the receiver verifies the data, then discards it. */
  bench?: boolean;
  /** A measurement of this generated payload: a receiver that can compares it byte for byte, and nobody hashes. */
  pattern?: Pattern;
  /** The handshake already happened on `link`; read its frames with this reader. */
  handshaken?: FrameReader;
  /** Start every file over, whatever the receiver already has. */
  noResume?: boolean;
  /**
   * Take only whole files the receiver already has (by size and time, or
   * SHA-256); start partial ones over (a group sends each file once to all).
   */
  wholeFilesOnly?: boolean;
  /**
   * Keep each file's result for {@link TransferResult.files}; without it
   * only the counts and totals are kept (a folder of 100,000 files).
   * @default {true}
   */
  keepFiles?: boolean;
  /**
   * Files already on the receiver are compared by SHA-256 on both ends,
   * not taken as they are for having the same size and modification time.
   */
  check?: boolean;
  /** The receiver took these files as they are (same size and time): nothing was read or sent. */
  onUnchanged?: (files: number, bytes: number) => void;
  /** Called before re-hashing the prefix the receiver offers. */
  onChecking?: (name: string, bytes: number) => void;
  /** A file continues: `offset` bytes of prefix, `kept` bytes in all (UDP: slots past it too). */
  onResumed?: (name: string, offset: number, kept: number) => void;
  /** Called when the receiver's prefix differs from the file: it starts over. */
  onRestart?: (name: string) => void;
  /** Called when the receiver already has the whole file (same SHA-256): nothing is sent. */
  onSkipped?: (name: string) => void;
  /** The receiver asks its user to accept, who has `timeoutMs` (0: no limit). */
  onAsking?: (timeoutMs: number) => void;
  /**
   * The same for every attempt of one send (`--retry`, 32 hex digits): a
   * receiver still holding an older attempt's session ends it and takes
   * this one (PROTOCOL.md 5.3).
   */
  token?: string;
}

/** How long past the receiver's own time-out its answer may take to arrive. */
const ASKING_GRACE_MS = 5000;

/**
 * Waits for `reply` while the receiver's user is asked: the link is kept
 * from timing out for `timeoutMs` and a grace time (without a limit: until
 * the reply or Ctrl-C), after which it times out as usual.
 */
async function whileAsked(
  link: Link,
  reply: Promise<Message>,
  timeoutMs: number,
): Promise<Message> {
  const until = timeoutMs > 0
    ? performance.now() + timeoutMs + ASKING_GRACE_MS
    : Infinity;
  const alive = setInterval(() => {
    if (performance.now() < until) link.touch();
  }, 1000);
  try {
    return await reply;
  } finally {
    clearInterval(alive);
  }
}

/** Files up to this size are read synchronously. */
const SMALL_FILE = 1024 * 1024;

interface Pending {
  name: string;
  started: number;
  bytes: number;
  /** Bytes the receiver already had (resumed, skipped). */
  resumed: number;
  sha256: string;
  /** False for a `--lossy` file that did not arrive whole (no ack comes). */
  complete: boolean;
}

/**
 * Sends `sources` over `link` and returns once every file is confirmed.
 * Sources still being walked (a {@link SourceWalk}) are sent as the walk
 * finds them: the manifest starts leaving before a large folder is listed.
 */
export async function sendSession(
  link: Link,
  walked: readonly Source[] | AsyncIterable<Source>,
  options: SendOptions = {},
): Promise<TransferResult> {
  const state = options.state ?? new TransferState();
  const reader = options.handshaken ??
    new FrameReader(link, { bufferSize: 128 * 1024 });
  let started = performance.now();
  let bodies: BodySender | undefined;
  // The receiver's error, once it sent one: what stops the bodies.
  let failed: PasaError | undefined;
  try {
    if (!options.handshaken) await handshake(link, reader, "sender");
    if (options.bench) {
      await writeControl(link, {
        type: "bench",
        ...(options.pattern ? { pattern: options.pattern.hex } : {}),
      });
    }
    if (options.udp) {
      const slots = options.udp.slotsPerDatagram ?? 1;
      await writeControl(link, {
        type: "udp-request",
        datagramSize: options.udp.datagramSize,
        lossy: options.udp.lossy,
        ...(slots > 1 ? { slotsPerDatagram: slots } : {}),
        // A group's datagrams go to one port of each receiver.
        ...(!options.group && (options.udp.lanes ?? 1) > 1
          ? { lanes: options.udp.lanes }
          : {}),
        // Holes asked for during a pass: not to a group, not when measuring loss.
        ...(!options.group && !options.udp.lossy ? { earlyRepair: true } : {}),
        ...(options.group ? { group: options.group.request() } : {}),
      });
    }
    const sources = await sendManifest(link, walked, options.token);
    const entries = sources.map((s) => s.entry);
    state.setManifest(entries);
    collectAfter(entries.length); // what encoding a long manifest left behind
    let reply = await reader.readControl();
    if (reply.type === "asking") {
      // The receiver's user is asked: wait as long as it may take.
      options.onAsking?.(reply.timeoutMs);
      reply = await whileAsked(link, reader.readControl(), reply.timeoutMs);
    }
    // The data's own time starts now: not the pairing, nor the user's answer.
    started = performance.now();
    if (reply.type === "error") {
      throw errorFromPeer(reply.code, reply.message, "Receiver");
    }
    if (reply.type !== "accept") {
      throw new ProtocolError(`Expected accept or error, got ${reply.type}`);
    }
    // A receiver that compares the payload with its pattern needs no digest.
    const newHash = options.pattern && reply.pattern
      ? noDigest
      : () => createHash("sha256");
    // Whatever carries the bodies, the session below is the same.
    if (options.udp) {
      if (!reply.udp) {
        throw new ProtocolError(
          "Receiver accepted a UDP transfer without a transfer id",
        );
      }
      if (options.group) {
        bodies = options.group.join(
          link,
          options.udp.target.hostname,
          reply.udp,
          {
            datagramSize: options.udp.datagramSize,
            slotsPerDatagram: options.udp.slotsPerDatagram ?? 1,
          },
        );
      } else {
        const udp = openUdp(link, reply.udp, options.udp, state);
        udp.newHash = newHash;
        bodies = new UdpBodySender(udp, options);
      }
    } else {
      // The receiver's error, or Ctrl-C here (the replies' reader stops at
      // once): the body stops between chunks.
      bodies = new TcpBodySender(link, state, options, () => failed, newHash);
    }
    const transport = bodies;
    options.onAccepted?.();
    const { starts, unchanged, asIs } = reply.offers
      ? await claimResume(link, reader, sources, reply.offers, options)
      : {
        starts: new Map<number, SendStart>(),
        unchanged: new Set<number>(),
        asIs: new Map<number, string>(),
      };
    collectAfter(reply.offers ?? 0); // the offers and claims

    const fileEntries = entries.filter((e) => e.type === "file");
    const fileCount = fileEntries.length;
    const files = new Ledger(options.keepFiles ?? true);
    if (unchanged.size > 0) {
      const bytes = addUnchanged(files, fileEntries, unchanged);
      state.doneBytes += bytes;
      options.onUnchanged?.(unchanged.size, bytes);
    }
    // Over UDP, files the receiver has whole (same SHA-256): nothing is sent.
    for (const [index, sha256] of asIs) {
      const entry = fileEntries[index]!;
      files.add(fileResult(entry.path, entry.size!, entry.size!, sha256, 0));
      state.doneBytes += entry.size!;
      options.onSkipped?.(entry.path);
    }
    // Files sent and not yet acknowledged: each is forgotten at its file-ok.
    const pending = new Map<number, Pending>();
    let incomplete = 0;
    const replies = readReplies(reader, pending, {
      onFile: (file) => {
        files.add(file);
        options.onFile?.(file);
      },
      ...(transport.onReply ? { onUdp: transport.onReply } : {}),
    }).catch((error) => {
      failed = error instanceof PasaError
        ? error
        : new ProtocolError(String(error));
      transport.fail(failed);
      throw failed;
    });
    replies.catch(() => {}); // observed below; avoid an unhandled rejection meanwhile

    let index = 0;
    // Standard input waits on whoever writes to it: Ctrl-C, or the
    // receiver's error, must end that wait too.
    const stdin = options.stdin &&
      haltable(options.stdin, Promise.race([link.interruption, replies]));
    // A file this side could not read, and abandoned: the reason to give.
    let abandoned: PasaError | undefined;
    const heap = new Collector(FILES_PER_COLLECTION);
    try {
      for (const source of sources) {
        if (source.entry.type !== "file") continue;
        heap.tick();
        const entry = source.entry;
        if (unchanged.has(index) || asIs.has(index)) { // taken as it is: nothing follows for it
          index++;
          continue;
        }
        state.beginFile(index, entry.path, entry.size);
        const item: Pending = {
          name: entry.path,
          started: performance.now(),
          bytes: 0,
          resumed: 0,
          sha256: "",
          complete: true,
        };
        const input = source.input
          ? source.input()
          : source.local === null
          ? stdin
          : await openFile(source.local!, entry.size);
        if (input === undefined) {
          throw new TypeError("No standard input to send from");
        }
        try {
          Object.assign(
            item,
            await transport.send(index, entry, input, starts.get(index)),
          );
        } catch (error) {
          // A file that cannot be read: the receiver hears it is abandoned.
          if (!failed && error instanceof PasaError && error.code === "io") {
            await transport.abort(error);
            abandoned = error; // ours came first: the receiver then closes
          }
          throw error;
        } finally {
          if (input !== stdin) (input as Input).close();
        }
        if (item.complete) pending.set(index, item);
        else incomplete++; // a --lossy file that did not arrive whole: no ack
        if (item.complete) {
          const end = encodeControl({
            type: "file-end",
            index,
            size: item.bytes,
            sha256: item.sha256,
          });
          await transport.end(end);
        }
        index++;
      }
      await transport.flush();
    } catch (error) {
      // A receiver that stopped us mid-stream says why in an error frame,
      // and closes. A failure of our own (datagrams that cannot be sent)
      // leaves it waiting: it is told at once below, not after its time-out.
      await withDeadline(replies, REPLY_GRACE_MS).catch(() => {});
      throw abandoned ?? failed ?? error;
    }
    // Every body is out. Over UDP the receiver's reports would keep the
    // link busy for ever: its confirmations have the time-out, in all.
    const lift = options.udp
      ? link.deadline("confirming every file")
      : () => {};
    const done = await replies.finally(lift);

    if (files.count + incomplete !== fileCount) {
      throw new ProtocolError(
        `Receiver said done after confirming ${files.count} of ${fileCount} files`,
      );
    }
    link.close();
    const seconds = (performance.now() - started) / 1000;
    const result: TransferResult = {
      role: "sender",
      peer: options.peer ?? "",
      dirs: entries.length - fileCount,
      ...files.summary(seconds),
      verified: incomplete === 0,
    };
    if (newHash === noDigest) result.patternChecked = true;
    const udp = transport.stats(done, incomplete === 0);
    if (udp) result.udp = udp;
    return result;
  } catch (error) {
    let report = shouldReport(error) ? error : undefined;
    if (report !== undefined && bodies?.midBody) {
      // Inside a body the receiver reads chunk lengths: abort it first.
      await bodies.abort(asPasaError(report)).catch(() => {});
      report = undefined;
    }
    await hangUp(link, { report });
    throw error;
  } finally {
    bodies?.close();
  }
}

/**
 * Sends the manifest in frames of {@link ENTRIES_PER_FRAME} entries, each
 * as soon as it is full, and returns every source sent.
 */
async function sendManifest(
  link: Link,
  walked: readonly Source[] | AsyncIterable<Source>,
  token?: string,
): Promise<readonly Source[]> {
  const sources: Source[] = [];
  let batch: Entry[] = [];
  // The token goes once, in the first frame.
  let first: { token?: string } = token ? { token } : {};
  const items: Iterable<Source> | AsyncIterable<Source> = walked;
  for await (const source of items) {
    sources.push(source);
    batch.push(source.entry);
    if (batch.length === ENTRIES_PER_FRAME) {
      await writeControl(link, {
        type: "manifest",
        entries: batch,
        last: false,
        ...first,
      });
      batch = [];
      first = {};
    }
  }
  // The last frame may be empty: an empty transfer is that frame alone.
  await writeControl(link, {
    type: "manifest",
    entries: batch,
    last: true,
    ...first,
  });
  return sources;
}

async function openFile(
  path: string,
  size: number | null,
): Promise<FileInput> {
  try {
    // A small file is opened and read without trips to the thread pool:
    // for a folder of them, those round trips are most of the time.
    if (size !== null && size <= SMALL_FILE) {
      return new FileInput(Deno.openSync(path, { read: true }), true);
    }
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

/**
 * Reads the receiver's frames until `done`: a `file-ok` per complete file
 * (checked against the digest sent), and in UDP mode reports, missing
 * ranges and per-file verdicts, which go to `onUdp`.
 */
async function readReplies(
  reader: FrameReader,
  pending: Map<number, Pending>,
  handlers: { onFile: (f: FileResult) => void; onUdp?: (m: Message) => void },
): Promise<Done> {
  for (;;) {
    const message = await reader.readControl().catch((error) => {
      if (error instanceof ProtocolError && error.code === "truncated") {
        throw new NetworkError(
          "The receiver went away before it confirmed every file: its connection closed (it was stopped, or failed without saying why)",
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
        const item = pending.get(message.index);
        pending.delete(message.index);
        if (item === undefined || item.sha256 !== message.sha256) {
          throw new ProtocolError(
            `Receiver confirmed file ${message.index} with a digest that was not sent`,
          );
        }
        handlers.onFile(fileResult(
          item.name,
          item.bytes,
          item.resumed,
          item.sha256,
          (performance.now() - item.started) / 1000,
        ));
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

/** `source`, whose reads end when `halted` rejects (what resolves it is ignored). */
function haltable(source: ByteSource, halted: Promise<unknown>): ByteSource {
  const stop = halted.then(() => new Promise<never>(() => {}));
  stop.catch(() => {});
  return { read: (p) => Promise.race([source.read(p), stop]) };
}

/** `error` as the protocol can carry it: a code and a message. */
function asPasaError(error: unknown): PasaError {
  return error instanceof PasaError
    ? error
    : new ProtocolError(error instanceof Error ? error.message : String(error));
}

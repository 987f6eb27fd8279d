/**
 * The receiver's side of a session: handshake, the whole manifest vetted
 * before any byte is written, then each file streamed into its `.part`,
 * hashed on the way, verified against the sender's digest, synced, and
 * renamed. Any failure removes the `.part` and tells the sender why.
 *
 * @module
 */

import {
  errorFromPeer,
  IntegrityError,
  NetworkError,
  ProtocolError,
  RefusedError,
} from "./errors.ts";
import type {
  BodyContext,
  BodyTransport,
  FileBody,
  FileEntry,
  ResumeState,
} from "./bodies.ts";
import { FrameReader } from "./frames.ts";
import type { FileSink, Present, Target } from "./fsio.ts";
import type { Link } from "./link.ts";
import { checkWirePath, displayName } from "./names.ts";
import {
  type Bench,
  type BenchRequest,
  type Entry,
  manifestCost,
  MAX_ENTRIES,
  MAX_MANIFEST_MEMORY,
  type UdpRequest,
} from "./protocol.ts";
import { Pattern } from "./pattern.ts";
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
import { DATAGRAM_SIZE_MAX, DATAGRAM_SIZE_MIN } from "./udp.ts";
import type { UdpEndpoint } from "./udp_receive.ts";
import { UdpBodies } from "./udp_bodies.ts";
import { TcpBodies } from "./tcp_bodies.ts";
import { findPrefixes, type Prefix, settleResume } from "./resume.ts";
import { formatBytes, formatList } from "./units.ts";
import { addUnchanged, fileResult, Ledger } from "./accounting.ts";
import { CommitGroup, GROUP_WAIT_MS } from "./group_commit.ts";
import { PartFile } from "./fsio.ts";
import { collectAfter, Collector } from "./heap.ts";
import type { SenderTokens } from "./sender_tokens.ts";

/** A full collection every this many files received (lib/heap.ts). */
const FILES_PER_COLLECTION = 4096;
/** And every this many frames of a manifest (of up to 200 entries each). */
const FRAMES_PER_COLLECTION = 64;

/** Whether `arrival` is still pending after `ms`. */
async function quietFor(arrival: Promise<void>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const silent = await Promise.race([
    arrival.then(() => false),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), ms);
    }),
  ]);
  clearTimeout(timer);
  return silent;
}

/** A file received whole and checked, until it is acknowledged. */
interface Received {
  index: number;
  entry: FileEntry;
  body: FileBody;
  fileStart: number;
}

/** Options of {@link receiveSession}. */
export interface ReceiveOptions {
  /** Counters for a progress bar. @default {a new TransferState} */
  state?: TransferState;
  /** Name of the peer, for results. @default {""} */
  peer?: string;
  /** As {@link SendOptions.keepFiles}: each file's result, or only totals. @default {true} */
  keepFiles?: boolean;
  /**
   * Write the single incoming file here instead of into the destination
   * (receive --stdout); a manifest of anything but one file is refused.
   */
  stdout?: FileSink;
  /** The receiver's datagram socket: UDP transfers are refused without one (but a group's). */
  udp?: UdpEndpoint;
  /** At most this many UDP ports per transfer, the main one included (default: what the sender asks, up to 16). */
  udpLanes?: number;
  /**
   * This side's address on the connection: a sender's group (PROTOCOL.md
   * section 15) is joined on that interface; without it, groups are refused.
   */
  local?: string;
  /** A sender waits for more receivers to join its group before it starts. */
  onWait?: (joined: number, receivers: number) => void;
  /** Where a measurement (`bench` frame) goes instead of `dest`; refused without one. */
  scratch?: Target;
  /** Why measurements are refused here, when they are (no `scratch`). */
  noMeasurements?: string;
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
  /**
   * A `--keep` receiver's sessions by their sender's token: a sender that
   * reconnects takes over its own older session (lib/sender_tokens.ts).
   */
  tokens?: SenderTokens;
  /** This session took over an older one of the same sender. */
  onTakeover?: () => void;
  /**
   * Asked once the manifest is vetted, before anything is created: false
   * refuses the transfer (`declined`). A receiver's user on a terminal.
   */
  confirm?: (
    files: number,
    dirs: number,
    bytes: number | null,
  ) => Promise<boolean>;
  /**
   * How long {@link confirm} gives its user, told to the sender in an
   * `asking` frame so that it waits as long (0: no limit).
   * @default {0}
   */
  confirmTimeoutMs?: number;
  /** Called once per file when it is verified and in place. */
  onFile?: (file: FileResult) => void;
  /** Called before re-hashing a prefix left by an interrupted transfer. */
  onChecking?: (name: string, bytes: number) => void;
  /** A file continues after `offset` verified bytes; `kept` in all (UDP: whole slots past it too). */
  onResumed?: (name: string, offset: number, kept?: number) => void;
  /** A cut transfer left `bytes` of file `name` (of `size`) as a .part to resume. */
  onKept?: (
    name: string,
    bytes: number,
    size: number | null,
    group?: boolean,
  ) => void;
  /** Called when a file already here is confirmed identical and skipped. */
  onSkipped?: (name: string) => void;
  /** The sender took these files as they are here (same size and time): nothing was read or received. */
  onUnchanged?: (files: number, bytes: number) => void;
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
  const resume: ResumeState = { prefixes: new Map(), starts: new Map() };
  let liftDeadline = () => {};
  let releaseToken = () => {};
  let started = performance.now();
  // The UDP report timer writes too: one queue keeps frames whole.
  const send = serialWriter(link);
  let entries: Entry[] | undefined;
  let vetted = false;
  let bodies: BodyTransport | undefined;
  // Small files received whole, waiting to be made durable together.
  const group = new CommitGroup<Received>();
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
        if (!options.scratch) {
          throw new ProtocolError(
            options.noMeasurements ??
              "This receiver does not take measurements",
            "bench",
          );
        }
        liftDeadline();
        return await options.reverse!(request, reader);
      }
    }
    const { entries: list, udp: request, bench, token } = await readManifest(
      reader,
      (joined, receivers) => {
        // Each word from a sender gathering its group is a new deadline.
        liftDeadline();
        liftDeadline = link.deadline("the list of files");
        options.onWait?.(joined, receivers);
      },
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
    if (token !== undefined && options.tokens) {
      // Before vetting: the older session's names are let go first.
      const held = await options.tokens.take(token, () => link.close());
      releaseToken = held.release;
      if (held.tookOver) options.onTakeover?.();
    }
    if (bench && !options.scratch) {
      throw new ProtocolError(
        options.noMeasurements ?? "This receiver does not take measurements",
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
    if (request) checkUdpRequest(request, entries, options, link);
    liftDeadline();
    let present: Present = new Map();
    if (options.stdout) {
      if (entries.length !== 1 || entries[0]!.type !== "file") {
        throw new RefusedError(
          `Refusing ${entries.length} entries: --stdout takes exactly one file`,
          "not-single-file",
        );
      }
      checkWirePath(entries[0]!.path);
    } else {
      // A measurement compared where it lands stores nothing: no space needed.
      present = await dest.vet(entries, { storing: !bench?.pattern });
      vetted = true;
    }
    collectAfter(entries.length); // the manifest's frames, decoded and vetted
    state.setManifest(entries);
    options.onManifest?.(entries);
    if (options.confirm) {
      // The sender is told, and waits as long as the user may take; the
      // link stays open meanwhile (the question has its own time-out).
      await send({ type: "asking", timeoutMs: options.confirmTimeoutMs ?? 0 });
      const alive = setInterval(() => link.touch(), 1000);
      const yes = await options.confirm(
        state.files,
        entries.length - state.files,
        state.totalBytes,
      ).finally(() => clearInterval(alive));
      if (!yes) {
        throw new RefusedError(
          "The receiver's user declined the transfer",
          "declined",
        );
      }
      link.ensureOpen("asking the user");
    }
    // The data's own time starts now: not the user's answer.
    started = performance.now();
    const fileEntries = entries.filter((e) => e.type === "file");
    // Whatever carries the bodies, the session below is the same.
    const context: BodyContext = {
      link,
      reader,
      send,
      dest,
      state,
      options,
      known,
      present,
      resume,
      files: fileEntries,
      // A generated payload is compared where it lands: no hash, no storage.
      ...(bench?.pattern ? { pattern: Pattern.fromHex(bench.pattern) } : {}),
    };
    bodies = request?.group
      ? UdpBodies.forGroup(context, request, options.local!)
      : request
      ? new UdpBodies(context, options.udp!, request)
      : new TcpBodies(context);

    if (!options.stdout) {
      let made = 0;
      for (const e of entries) {
        if (e.type !== "dir") continue;
        await dest.makeDirs(e.path, known);
        // The sender waits for this work, so it is activity; but once the
        // connection is closed (Ctrl-C, a time-out) nothing more is made.
        if (++made % 256 === 0) {
          link.touch();
          // Made without the thread pool: let a Ctrl-C or a close be heard.
          await new Promise((resolve) => setTimeout(resolve, 0));
        }
        link.ensureOpen("creating directories");
      }
    }
    // Prefixes left by interrupted transfers, offered for resuming (over UDP
    // in whole slots, see PROTOCOL.md).
    // Nothing comes from the sender before the accept: a read that ends
    // meanwhile means it went away (or spoke out of turn), and the files
    // are not read for nobody.
    let spoke = false;
    const listening = reader.whenReadable(false).then(
      () => spoke = true,
      () => spoke = true,
    );
    const wentAway = () =>
      new NetworkError(
        "The sender went away while the files already here were checked",
        "network",
      );
    const stop = () => {
      if (spoke) throw wentAway();
    };
    resume.prefixes = options.stdout
      ? new Map<number, Prefix>()
      : await findPrefixes(
        dest,
        fileEntries,
        present,
        options,
        bodies.align,
        !request?.lossy,
        stop,
      ).catch(async (error) => {
        if (!spoke) throw error;
        // What it said, if anything: its error, or the end of the stream.
        await listening;
        if (reader.buffered === 0) throw wentAway();
        const said = await reader.readControl();
        if (said.type === "error") {
          throw errorFromPeer(said.code, said.message, "Sender");
        }
        throw new ProtocolError(`Unexpected ${said.type} before the accept`);
      });
    // The first file's datagrams follow the accept (or the last resume
    // answer) at once: be ready for them.
    const transport = bodies;
    if (resume.prefixes.size === 0) {
      refuseClashes(fileEntries, present, resume.prefixes, new Map(), dest);
      await transport.ready();
    }
    const member = transport.acceptMember();
    await send({
      type: "accept",
      security: securityMode(link),
      ...(member ? { udp: member } : {}),
      ...(resume.prefixes.size > 0 ? { offers: resume.prefixes.size } : {}),
      ...(context.pattern ? { pattern: true as const } : {}),
    });
    if (resume.prefixes.size > 0) {
      resume.starts = await settleResume(reader, send, resume.prefixes, {
        localPath: (index) => dest.localPath(fileEntries[index]!.path),
        beforeAnswers: (settled) => {
          refuseClashes(fileEntries, present, resume.prefixes, settled, dest);
          resume.starts = settled; // the first file opens at its start
          return transport.ready();
        },
        wholeAsIs: request !== undefined,
      });
    }
    // Only now: nothing may come between the answers.
    collectAfter(resume.prefixes.size); // offers, claims, answers
    transport.start();

    const files = new Ledger(options.keepFiles ?? true);
    const incomplete: string[] = [];
    // Files taken as they are (same size and time; over UDP also the same
    // SHA-256): nothing follows for them.
    const unchanged = new Set<number>();
    const asIs = new Set<number>();
    for (const [index, prefix] of resume.prefixes) {
      if (prefix.takenUnchanged) unchanged.add(index);
      else if (prefix.takenWhole) {
        asIs.add(index);
        const { path, size } = fileEntries[index]!;
        files.add(fileResult(path, size!, size!, prefix.sha256!, 0));
        state.doneBytes += size!;
        options.onSkipped?.(path);
      }
    }
    if (unchanged.size > 0) {
      const bytes = addUnchanged(files, fileEntries, unchanged);
      state.doneBytes += bytes;
      options.onUnchanged?.(unchanged.size, bytes);
    }
    /** Acknowledges a file durable under its final name, and reports it. */
    const confirm = (done: Received): Promise<void> => {
      const { index, entry, body, fileStart } = done;
      const written = send({ type: "file-ok", index, sha256: body.sha256 });
      const file = fileResult(
        entry.path,
        body.bytes,
        body.resumed,
        body.sha256,
        (performance.now() - fileStart) / 1000,
      );
      files.add(file);
      options.onFile?.(file);
      return written;
    };
    const commitGroup = async () => {
      // A group's file-oks go out together, in manifest order.
      const writes = new Set<Promise<void>>();
      for (const done of await group.commit()) writes.add(confirm(done));
      await Promise.all(writes);
    };
    const heap = new Collector(FILES_PER_COLLECTION);
    for (let index = 0; index < fileEntries.length; index++) {
      if (unchanged.has(index) || asIs.has(index)) continue;
      heap.tick();
      const entry = fileEntries[index]!;
      // A large file commits alone: the small ones before it go first.
      if (!group.takes(entry.size)) await commitGroup();
      // A sender may wait for each file-ok before sending on: what is held
      // is committed when nothing arrives for a moment.
      if (group.size > 0 && reader.buffered === 0) {
        // Its failure (the stream ended) is for the next read to report.
        const readable = reader.whenReadable().catch(() => {});
        if (await quietFor(readable, GROUP_WAIT_MS)) await commitGroup();
        await readable;
      }
      const fileStart = performance.now();
      const body = await transport.receive(index);
      if (!body) {
        incomplete.push(entry.path);
        continue;
      }
      await checkFileEnd(reader, index, entry, body);
      link.touch();
      const done = { index, entry, body, fileStart };
      if (
        transport.groupCommit && !bench && body.sink instanceof PartFile &&
        group.takes(entry.size)
      ) {
        transport.handOver();
        if (group.add(body.sink, entry, body.bytes, done)) await commitGroup();
        continue;
      }
      await commitGroup(); // what is held goes first: file-oks in manifest order
      await transport.commit(body, entry);
      await confirm(done);
    }
    await commitGroup();
    transport.close();
    const stats = await transport.stats(incomplete.length === 0);
    const seconds = (performance.now() - started) / 1000;
    const summary = files.summary(seconds);
    await send({
      type: "done",
      files: files.count,
      bytes: summary.bytes,
      ...(stats
        ? { udp: stats as unknown as Record<string, number | boolean> }
        : {}),
    });
    link.close();
    const result: TransferResult = {
      role: "receiver",
      peer: options.peer ?? "",
      dirs: entries.length - fileEntries.length,
      ...summary,
      verified: incomplete.length === 0,
    };
    if (stats) result.udp = stats;
    // A measurement keeps nothing, complete or not: no .part names to give.
    if (bench) result.measurement = true;
    else if (incomplete.length > 0) result.incomplete = incomplete;
    if (context.pattern) result.patternChecked = true;
    return result;
  } catch (error) {
    // The sender hears why first: an interrupted side has a moment only.
    const told = hangUp(link, {
      report: shouldReport(error) ? error : undefined,
    });
    // Files held for a group were whole and verified: a rerun confirms them.
    await group.release(true);
    await bodies?.abandon(error);
    await told;
    throw error;
  } finally {
    liftDeadline();
    bodies?.close();
    if (vetted && entries) dest.release(entries);
    releaseToken(); // after its names: a session taking over vets them next
    options.budget?.give(held);
  }
}

/**
 * Refuses files already here that the sender did not prove its own (by
 * size and time, or SHA-256), unless they are to be replaced: before any
 * body, all of them in one refusal.
 */
function refuseClashes(
  files: readonly FileEntry[],
  present: Present,
  prefixes: Map<number, Prefix>,
  starts: Map<number, number>,
  dest: Target,
): void {
  if (present.size === 0 || dest.force) return;
  const clashes: string[] = [];
  for (let index = 0; index < files.length; index++) {
    const entry = files[index]!;
    if (!present.has(entry.path)) continue;
    const prefix = prefixes.get(index);
    const same = prefix?.whole &&
      (prefix.takenUnchanged || starts.get(index) === entry.size);
    if (!same) clashes.push(displayName(entry.path));
  }
  if (clashes.length === 0) return;
  throw new RefusedError(
    `Refusing to overwrite: ${formatList(clashes)} ${
      clashes.length === 1
        ? "exists and differs from the sender's file (pasa receive --force replaces it)"
        : "exist and differ from the sender's files (pasa receive --force replaces them)"
    }`,
    "exists",
  );
}

/** Checks the sender's `file-end` against the body that arrived. */
async function checkFileEnd(
  reader: FrameReader,
  index: number,
  entry: Entry,
  body: FileBody,
): Promise<void> {
  const end = await reader.readControl();
  if (end.type === "error") {
    throw errorFromPeer(end.code, end.message, "Sender");
  }
  if (end.type !== "file-end" || end.index !== index) {
    throw new ProtocolError(
      `Expected file-end for file ${index}, got ${end.type}`,
    );
  }
  if (end.size !== body.bytes) {
    throw new ProtocolError(
      `Sender declared ${end.size} bytes for ${
        displayName(entry.path)
      } but sent ${body.bytes}`,
    );
  }
  if (body.sha256 !== end.sha256) {
    throw new IntegrityError(
      `SHA-256 mismatch for ${
        displayName(entry.path)
      }: received ${body.sha256}, sender computed ${end.sha256}`,
    );
  }
}

/** Refuses a UDP request this receiver cannot serve. */
function checkUdpRequest(
  request: UdpRequest,
  entries: readonly Entry[],
  options: ReceiveOptions,
  link: Link,
): void {
  if (request.group) {
    if (options.local === undefined || options.stdout || request.lossy) {
      throw new RefusedError(
        "Refusing to join a group: only a receiver that connected to the sender (pasa receive --from, or with a code) writing files joins one",
        "no-udp",
      );
    }
    const local = options.local;
    if (local.includes(":") && !/^::ffff:\d/.test(local)) {
      // The group is an IPv4 multicast address, and the unicast fallback
      // goes to the address this connection came from.
      throw new RefusedError(
        "Refusing to join a group over IPv6: a group's datagrams go to an IPv4 multicast address; connect to the sender by its IPv4 address (pasa receive --from IPV4:PORT)",
        "no-udp",
      );
    }
    if ((request.group.key !== undefined) !== (link.pairing !== undefined)) {
      throw new ProtocolError(
        link.pairing
          ? "A group's datagrams must be sealed in an encrypted session: the request has no key"
          : "A group key in a session without encryption",
      );
    }
  } else if (!options.udp) {
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
  onWait: (joined: number, receivers: number) => void,
  charge: (bytes: number) => void,
): Promise<
  { entries: Entry[]; udp?: UdpRequest; bench?: Bench; token?: string }
> {
  const entries: Entry[] = [];
  let udp: UdpRequest | undefined;
  let bench: Bench | undefined;
  let token: string | undefined;
  let frames = 0;
  let memory = 0;
  const heap = new Collector(FRAMES_PER_COLLECTION);
  for (;;) {
    const message = await reader.readControl();
    heap.tick(); // a long manifest's frames and their text are garbage
    if (message.type === "error") {
      throw errorFromPeer(message.code, message.message, "Sender");
    }
    // A sender gathering a group says so, as often as it likes, first.
    if (message.type === "wait" && entries.length === 0 && !udp && !bench) {
      onWait(message.joined, message.receivers);
      continue;
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
      bench = message;
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
    if (frames++ === 0) token = message.token; // only the first frame's counts
    for (const entry of message.entries) entries.push(entry);
    if (message.last) {
      return {
        entries,
        ...(udp ? { udp } : {}),
        ...(bench ? { bench } : {}),
        ...(token ? { token } : {}),
      };
    }
  }
}

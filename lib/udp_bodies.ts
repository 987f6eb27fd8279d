/**
 * File bodies as UDP datagrams (PROTOCOL.md section 9): each file's part is
 * opened, and its handler routed, before the sender can send its first
 * datagram; the passes are answered until every slot is in; reports go out
 * every 100 ms meanwhile. A cut keeps every whole slot that arrived.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { noDigest, PatternSink } from "./pattern.ts";
import type {
  BodyContext,
  BodySender,
  BodyTransport,
  FileBody,
  FileEntry,
  SendHooks,
  SentBody,
} from "./bodies.ts";
import type { PasaError } from "./errors.ts";
import { type ByteSource, writeAll } from "./frames.ts";
import type { Input } from "./payload.ts";
import type { SendStart } from "./resume.ts";
import {
  senderStats,
  sendUdpFile,
  udpDispatcher,
  type UdpSendContext,
} from "./udp_send.ts";
import { PartFile } from "./fsio.ts";
import type { Done, Message, UdpRequest } from "./protocol.ts";
import { DatagramOpener, type DirectionKey } from "./records.ts";
import { LANES_MAX } from "./messages.ts";
import { groupKeyFrom } from "./group.ts";
import {
  countersDelta,
  type NetCounters,
  readNetCounters,
} from "./net_counters.ts";
import { resumable } from "./resume.ts";
import {
  DATAGRAM_SIZE_MAX,
  RANGES_PER_FRAME,
  SEALED_TAG,
  slotPayload,
  UDP_HEADER,
  type UdpStats,
} from "./udp.ts";
import {
  type DatagramHandler,
  PassingDatagrams,
  ReceiveCounters,
  receivePasses,
  receiverStats,
  UdpEndpoint,
  UdpFileReceiver,
  type UdpPassContext,
} from "./udp_receive.ts";

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

/**
 * Lane sockets open at once in this process, across every transfer: a
 * `--keep` receiver serving many UDP senders must keep descriptors for
 * their files. A transfer past the budget gets fewer lanes.
 */
export const LANE_SOCKETS_MAX = 128;
let laneSockets = 0;

/**
 * Up to `asked - 1` more sockets for one transfer, on the address the main
 * one is bound to, each on a port of the system's choosing (PROTOCOL.md
 * 9.1). A socket that cannot be opened is one lane fewer, never a failure.
 */
function openLanes(main: UdpEndpoint, asked: number): UdpEndpoint[] {
  const host = (main.socket.addr as Deno.NetAddr).hostname;
  const lanes: UdpEndpoint[] = [];
  for (
    let k = 1;
    k < Math.min(asked, LANES_MAX) && laneSockets < LANE_SOCKETS_MAX;
    k++
  ) {
    try {
      lanes.push(UdpEndpoint.bind(host, 0));
      laneSockets++;
    } catch {
      break;
    }
  }
  return lanes;
}

/**
 * A hole is asked for during the pass once datagrams this many slots
 * further on have arrived (about 1.4 MiB): datagrams dealt over several
 * ports overtake one another by far less.
 */
const EARLY_MARGIN_SLOTS = 1024;

/** Bytes a resumed file already has: its prefix and the ranges past it. */
function keptBytes(offset: number, ranges: [number, number][] = []): number {
  return ranges.reduce((sum, [, length]) => sum + length, offset);
}

/** One file's UDP receiver, opened before its datagrams can arrive. */
interface UdpFile {
  entry: FileEntry;
  /** Where its slots land: the `.part`, or a measurement's pattern check. */
  part: PartFile | PatternSink;
  handler: UdpFileReceiver;
  /** Bytes of it already here when resuming. */
  resumed: number;
}

/** A group's datagrams (PROTOCOL.md section 15): where they come, and their key. */
interface GroupReception {
  address: string;
  /** This side's address on the connection to the sender: the interface to join on. */
  local: string;
  /** A socket of its own, for datagrams the sender sends here alone. */
  unicast: UdpEndpoint;
  key: DirectionKey | undefined;
}

/** Bodies as datagrams, to the receiver's UDP endpoint. */
export class UdpBodies implements BodyTransport {
  readonly align: number;
  #ctx: BodyContext;
  #endpoint: UdpEndpoint;
  #request: UdpRequest;
  #transfer: number;
  #sealed: boolean;
  #perDatagram: number;
  #counters = new ReceiveCounters();
  #opener: DatagramOpener | undefined;
  #passes: UdpPassContext;
  /** Every part opened, the next file's, and the one whose passes run. */
  #open: UdpFile[] = [];
  #next: UdpFile | undefined;
  #current: UdpFile | undefined;
  #reports: ReturnType<typeof setInterval> | undefined;
  /** The endpoint's count of unreadable datagrams when this transfer began. */
  #strayBefore: number;
  /** The host's kernel counters when this transfer began (null: not told). */
  #kernelBefore: Promise<NetCounters | null>;
  /** Set when the datagrams come to a group: the sockets are this transfer's own. */
  #group: GroupReception | undefined;
  /** This transfer's other ports (lanes, PROTOCOL.md 9.1), its own sockets. */
  #lanes: UdpEndpoint[] = [];
  /** Files taken as they are: no datagrams come for them (but a group's, for others). */
  #asIs = new Set<number>();

  /**
   * Datagrams of a group (the request's `group`): a socket on the group's
   * port, joined to it on the interface that reaches the sender, and one
   * of its own for unicast.
   */
  static forGroup(
    ctx: BodyContext,
    request: UdpRequest,
    local: string,
  ): UdpBodies {
    const g = request.group!;
    const host = local.startsWith("::ffff:") && local.includes(".")
      ? local.slice(7)
      : local;
    const shared = UdpEndpoint.forGroup(g.port);
    let unicast: UdpEndpoint;
    try {
      unicast = UdpEndpoint.bind(host, 0);
    } catch (error) {
      shared.close();
      throw error;
    }
    return new UdpBodies(ctx, shared, request, {
      address: g.address,
      local: host,
      unicast,
      key: g.key === undefined ? undefined : groupKeyFrom(g.key),
    });
  }

  constructor(
    ctx: BodyContext,
    endpoint: UdpEndpoint,
    request: UdpRequest,
    group?: GroupReception,
  ) {
    this.#ctx = ctx;
    this.#endpoint = endpoint;
    this.#request = request;
    this.#group = group;
    this.#transfer = request.group?.transfer ?? endpoint.newTransferId();
    this.#sealed = ctx.link.datagramKeys !== undefined;
    this.align = slotPayload(request.datagramSize, this.#sealed);
    this.#perDatagram = slotsPerDatagram(request, this.align, this.#sealed);
    const counters = this.#counters;
    // Encrypted: every datagram is opened (tag, then replay check) first.
    const key = group ? group.key : ctx.link.datagramKeys?.in;
    this.#opener = key
      ? new DatagramOpener(key, (why) => {
        if (why === "replayed") counters.duplicates++;
        else counters.malformed++;
      })
      : undefined;
    this.#passes = {
      reader: ctx.reader,
      send: ctx.send,
      counters,
      lossy: request.lossy,
      endpoint,
      endpointSeen: endpoint.received,
    };
    this.#strayBefore = endpoint.malformed;
    this.#kernelBefore = readNetCounters();
    if (!group) {
      this.#lanes = openLanes(
        endpoint,
        Math.min(request.lanes ?? 1, ctx.options.udpLanes ?? LANES_MAX),
      );
    }
  }

  acceptMember(): {
    transfer: number;
    slotsPerDatagram?: number;
    ports?: number[];
    port?: number;
  } {
    return {
      transfer: this.#transfer,
      ...(this.#lanes.length > 0
        ? {
          ports: this.#lanes.map((lane) =>
            (lane.socket.addr as Deno.NetAddr).port
          ),
        }
        : {}),
      ...(this.#group
        ? {
          port: (this.#group.unicast.socket.addr as Deno.NetAddr).port,
        }
        : {}),
      ...(this.#request.slotsPerDatagram !== undefined
        ? { slotsPerDatagram: this.#perDatagram }
        : {}),
    };
  }

  async ready(): Promise<void> {
    for (const [index, prefix] of this.#ctx.resume.prefixes) {
      if (prefix.takenUnchanged || prefix.takenWhole) this.#asIs.add(index);
    }
    const g = this.#group;
    if (g && !g.local.includes(":")) {
      // Not joined (no multicast on that interface): the sender finds that
      // nothing arrives and sends here by unicast instead.
      await this.#endpoint.socket.joinMulticastV4(g.address, g.local)
        .catch(() => {});
    }
    this.#next = await this.#prepare(0);
  }

  /**
   * Opens the part of file `from`, or of the first one after it that is
   * not taken as it is, and routes its datagrams there. With none left, a
   * group's datagrams (for others) are only counted.
   */
  async #prepare(from: number): Promise<UdpFile | undefined> {
    const { dest, state, options, resume } = this.#ctx;
    let k = from;
    while (this.#asIs.has(k)) k++;
    const entry = this.#ctx.files[k];
    if (entry === undefined) {
      this.#routeTo(new PassingDatagrams(this.#counters));
      return undefined;
    }
    state.beginFile(k, entry.path, entry.size);
    // A resumed file continues its .part after the verified prefix,
    // keeping the whole slots past it that the sender proved.
    const offset = resume.starts.get(k) ?? 0;
    const kept = resume.prefixes.get(k)?.accepted;
    const checking = this.#ctx.pattern;
    // A measurement's generated payload is compared where it lands, not stored.
    const part = checking ? new PatternSink(checking) : await dest.open(
      entry.path,
      {
        resumeAt: offset,
        known: this.#ctx.known,
        ...(kept ? { keepTail: true } : {}),
        ...(entry.mode !== undefined ? { mode: entry.mode } : {}),
      },
    );
    const handler = new UdpFileReceiver(
      part instanceof PatternSink ? part : part.file,
      {
        size: entry.size!,
        payload: this.align,
        perDatagram: this.#perDatagram,
      },
      k,
      this.#counters,
      state,
      offset > 0 || kept
        ? {
          offset,
          hash: offset > 0
            ? resume.prefixes.get(k)!.hash!
            : createHash("sha256"),
          ...(kept ? { ranges: kept } : {}),
        }
        : checking
        ? { offset: 0, hash: noDigest() }
        : undefined,
    );
    // Written back as it comes, as a TCP body is: the sync before the
    // rename then waits for the tail only.
    if (part instanceof PartFile) handler.onWritten = (n) => part.wrote(n);
    handler.asIs = this.#asIs;
    const resumed = offset > 0 || kept ? keptBytes(offset, kept) : 0;
    if (offset > 0 || kept) options.onResumed?.(entry.path, offset, resumed);
    const file = { entry, part, handler, resumed };
    this.#open.push(file);
    this.#routeTo(handler);
    return file;
  }

  /** This transfer's datagrams, on every socket, go to `handler` (opened first, if sealed). */
  #routeTo(handler: DatagramHandler): void {
    if (this.#opener) this.#opener.inner = handler;
    const to = this.#opener ?? handler;
    this.#endpoint.route(this.#transfer, to);
    this.#group?.unicast.route(this.#transfer, to);
    for (const lane of this.#lanes) lane.route(this.#transfer, to);
  }

  start(): void {
    const { link, state, send } = this.#ctx;
    const counters = this.#counters;
    // Reports are quiet: only datagrams arriving (or frames read) keep the
    // link alive, so a sender that vanished mid-pass still times out.
    // Only new data counts: copies of slots already here (replayed or
    // duplicated datagrams) must not keep a transfer alive forever. A
    // group's datagrams of files this receiver has count too: the sender
    // is at work for the others.
    const fresh = () => state.doneBytes + counters.passing;
    let seen = fresh();
    this.#reports = setInterval(() => {
      if (fresh() !== seen) link.touch();
      seen = fresh();
      send({
        type: "udp-report",
        received: counters.received,
        expected: counters.highest + 1,
        probes: counters.probes,
        ...(this.#lanes.length > 0
          ? { lanes: this.#lanes.map((lane) => lane.received) }
          : {}),
      }, { quiet: true }).catch(() => {});
      this.#askEarly();
    }, 100);
  }

  /**
   * Asks, during a pass, for the holes that later datagrams have long
   * passed (PROTOCOL.md 9.3), where the sender takes that: once filled, the
   * hash catches up over what came after them before the pass is over,
   * instead of reading the rest of the file back after it.
   */
  #askEarly(): void {
    const current = this.#current;
    if (!this.#request.earlyRepair || this.#request.lossy || !current) return;
    const ranges = current.handler.earlyHoles(
      EARLY_MARGIN_SLOTS,
      RANGES_PER_FRAME,
    );
    if (ranges.length === 0) return;
    this.#ctx.send({
      type: "udp-missing",
      index: current.handler.index,
      ranges,
      early: true,
    }, { quiet: true }).catch(() => {});
  }

  async receive(index: number): Promise<FileBody | undefined> {
    const current = this.#next!;
    this.#current = current;
    const complete = await receivePasses(this.#passes, current.handler, index);
    if (complete && current.part instanceof PartFile) {
      // Every slot is in: the disk writes back while the hash is finished.
      current.handler.flush();
      current.part.writeBack();
    }
    this.#next = await this.#prepare(index + 1); // ready before the sender moves on
    await this.#ctx.send({ type: "udp-file-done", index, complete });
    if (!complete) {
      // A --lossy measurement: what did not arrive whole is not kept, so
      // that the next measurement does not resume it.
      await current.part.discard();
      this.#current = undefined;
      return undefined;
    }
    return {
      bytes: this.#ctx.files[index]!.size!,
      resumed: current.resumed,
      sha256: current.handler.finishHash(),
      sink: current.part,
    };
  }

  async commit(body: FileBody, entry: FileEntry): Promise<void> {
    await body.sink.commit(entry);
    this.#current = undefined;
  }

  /** Each UDP body commits as it completes. */
  readonly groupCommit = false;

  handOver(): void {
    this.#current = undefined;
  }

  async abandon(error: unknown): Promise<void> {
    let keep = this.#current;
    // A measurement (--lossy) leaves no part to resume.
    if (keep && resumable(error) && !this.#request.lossy) {
      // Keep every whole slot that arrived; the holes read as zeros.
      const kept = keep.handler.keepReceived();
      if (kept > 0 && await keep.part.keep()) {
        this.#ctx.options.onKept?.(
          keep.entry.path,
          kept,
          keep.entry.size,
          this.#group !== undefined,
        );
      } else keep = undefined; // nothing worth keeping: discarded below
    } else keep = undefined;
    for (const { part } of this.#open) {
      if (part !== keep?.part) await part.discard();
    }
  }

  async stats(complete: boolean): Promise<UdpStats> {
    const kernel = countersDelta(
      await this.#kernelBefore,
      await readNetCounters(),
    );
    // Counters are this transfer's: of the endpoint's unreadable datagrams
    // (for no transfer at all), only those that came while it ran.
    return receiverStats(
      this.#counters,
      this.#endpoint.malformed - this.#strayBefore +
        (this.#group?.unicast.malformed ?? 0) +
        this.#lanes.reduce((sum, lane) => sum + lane.malformed, 0),
      {
        datagramSize: this.#request.datagramSize,
        slotsPerDatagram: this.#perDatagram,
      },
      this.#request.lossy,
      complete,
      this.#passes.lastPassEnd,
      kernel?.udpRcvbufErrors,
    );
  }

  close(): void {
    clearInterval(this.#reports);
    this.#endpoint.route(this.#transfer, undefined);
    for (const lane of this.#lanes) lane.close();
    laneSockets -= this.#lanes.length;
    this.#lanes = [];
    if (this.#group) {
      // The group's sockets were this transfer's own.
      this.#group.unicast.close();
      this.#endpoint.close();
    }
  }
}

/** Bodies as datagrams, sending. */
export class UdpBodySender implements BodySender {
  readonly onReply: (m: Message) => void;
  /** Bodies go as datagrams: the connection carries only frames. */
  readonly midBody = false;
  #udp: UdpSendContext;
  #hooks: SendHooks;

  constructor(udp: UdpSendContext, hooks: SendHooks) {
    this.#udp = udp;
    this.#hooks = hooks;
    this.onReply = udpDispatcher(udp);
  }

  async send(
    index: number,
    entry: FileEntry,
    input: ByteSource,
    start: SendStart | undefined,
  ): Promise<SentBody> {
    if (start) {
      this.#hooks.onResumed?.(
        entry.path,
        start.offset,
        keptBytes(start.offset, start.ranges),
      );
    }
    // Over UDP every body is a file (or a payload) of known size: it reads at offsets.
    const { sha256, complete } = await sendUdpFile(
      this.#udp,
      input as Input,
      index,
      entry.size!,
      start,
    );
    return {
      bytes: entry.size!,
      resumed: start ? keptBytes(start.offset, start.ranges) : 0,
      sha256,
      complete,
    };
  }

  /** Datagrams have no way to say it: the session's error says it. */
  abort(): Promise<void> {
    return Promise.resolve();
  }

  /** Over UDP no zero-length chunk comes before `file-end`. */
  /** The frame goes on the session's stream as it is. */
  end(frame: Uint8Array): Promise<void> {
    return writeAll(this.#udp.link, frame);
  }

  /** Nothing is gathered. */
  flush(): Promise<void> {
    return Promise.resolve();
  }

  fail(error: PasaError): void {
    this.#udp.inbox.fail(error);
  }

  stats(done: Done, complete: boolean) {
    return senderStats(this.#udp, done, complete);
  }

  close(): void {
    this.#udp.socket.close();
  }
}

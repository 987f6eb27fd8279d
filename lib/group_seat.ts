/**
 * One receiver's place in a group (lib/group_send.ts): its link, its
 * reports and its own rate controller, and the body interface its session
 * sends through, which hands each file to the group.
 *
 * @module
 */

import type { BodySender, FileEntry, SentBody } from "./bodies.ts";
import { NetworkError, type PasaError } from "./errors.ts";
import { type ByteSource, writeAll, writeControl } from "./frames.ts";
import type { UdpGroup } from "./group_send.ts";
import { SkippedSequences } from "./group.ts";
import type { Link } from "./link.ts";
import type { Input } from "./payload.ts";
import type { Done, Message, UdpRequest } from "./protocol.ts";
import type { RateController, UdpStats } from "./udp.ts";
import { DatagramSizing } from "./udp_sizing.ts";
import { Inbox, type PassVerdict, udpDispatcher } from "./udp_send.ts";

/** A receiver's place in the group, from pairing to its last file. */
type SeatStatus = "joining" | "in" | "gone";

/** One receiver's place in a group: its link, its reports, its rate. */
export class Seat {
  readonly name: string;
  status: SeatStatus = "joining";
  /** Why it left, once gone. */
  why: unknown;
  /** The group gave up on it (slow, silent): {@link why} says why. */
  dropped = false;
  link: Link | undefined;
  inbox = new Inbox();
  rate!: RateController;
  sizing = new DatagramSizing(1);
  /** Where unicast datagrams reach it. */
  target: Deno.NetAddr | undefined;
  unicast = false;
  /** Repair rounds it asked for in the file under way. */
  rounds = 0;
  /** Slots it asked to be sent again of the file under way. */
  repairAsked = 0;
  /** The file it has reached, and the one whose passes it still answers. */
  at = -1;
  pending = -1;
  input: Input | undefined;
  size = 0;
  /** The name of the file it reached. */
  path = "";
  /** Datagrams it reported, and when. */
  received = 0;
  heardAt = 0;
  joinedAt = 0;
  /** What it got over the last second or so (bit/s). */
  delivered = 0;
  /** Bytes of slots sent again to it: to the group, or to it alone. */
  retransmitted = 0;
  /** Sequence numbers sent to other receivers alone. */
  readonly skipped = new SkippedSequences();
  #window = { at: 0, received: 0 };
  #group: UdpGroup;
  #wakers: (() => void)[] = [];
  #dispatch: ((m: Message) => void) | undefined;

  /** `link`: its connection, known before it accepts (to put it out if it never does). */
  constructor(group: UdpGroup, name: string, link?: Link) {
    this.#group = group;
    this.name = name;
    this.link = link;
  }

  /**
   * Its receiver accepted the group: from here its session sends bodies
   * through the group. `host` is its address, `accepted` its `accept`'s
   * `udp` member.
   */
  join(
    link: Link,
    host: string,
    accepted: { transfer: number; slotsPerDatagram?: number; port?: number },
    asked: { datagramSize: number; slotsPerDatagram: number },
  ): BodySender {
    if (accepted.transfer !== this.#group.transfer) {
      throw new NetworkError(
        `Receiver accepted transfer ${accepted.transfer}, not the group's ${this.#group.transfer}`,
        "protocol",
      );
    }
    this.link = link;
    this.sizing = new DatagramSizing(
      Math.max(
        1,
        Math.min(accepted.slotsPerDatagram ?? 1, asked.slotsPerDatagram),
      ),
    );
    if (accepted.port !== undefined) {
      // A dual-stack listener sees an IPv4 peer as ::ffff:a.b.c.d.
      const hostname = host.startsWith("::ffff:") && host.includes(".")
        ? host.slice(7)
        : host;
      this.target = { transport: "udp", hostname, port: accepted.port };
    }
    this.joinedAt = this.heardAt = performance.now();
    this.status = "in";
    this.#group.joined(this);
    const dispatch = udpDispatcher({
      inbox: this.inbox,
      rate: this.rate,
      sizing: this.sizing,
      datagramSize: asked.datagramSize,
      seal: this.#group.seal,
    });
    this.#dispatch = (m) => {
      if (m.type !== "udp-report") return dispatch(m);
      this.#heard(m.received);
      // Datagrams sent to others alone were never meant for it: not lost.
      dispatch({ ...m, expected: m.expected - this.skipped.under(m.expected) });
    };
    return new SeatSender(this.#group, this);
  }

  #heard(received: number): void {
    const now = performance.now();
    this.received = received;
    this.heardAt = now;
    if (now - this.#window.at >= 1000) {
      if (this.#window.at > 0) {
        const datagrams = received - this.#window.received;
        this.delivered = datagrams * (this.rate.datagramBytes ?? 0) * 8 /
          ((now - this.#window.at) / 1000);
      }
      this.#window = { at: now, received };
    }
  }

  /** The `group` member of its `udp-request`. */
  request(): NonNullable<UdpRequest["group"]> {
    return this.#group.request();
  }

  /** Takes its receiver's UDP frames (reports, verdicts). */
  onReply(m: Message): void {
    this.#dispatch?.(m);
  }

  /** Sends a pass-end and waits for its receiver's verdict on file `index`. */
  async exchange(frame: Message, index: number): Promise<PassVerdict> {
    await writeControl(this.link!, frame);
    const reply = await this.inbox.next();
    if (reply.type === "udp-file-done" && reply.index === index) {
      return { complete: reply.complete };
    }
    if (reply.type !== "udp-missing" || reply.index !== index) {
      throw new NetworkError(
        `Expected udp-missing or udp-file-done for file ${index}, got ${reply.type}`,
        "protocol",
      );
    }
    return { ranges: reply.ranges };
  }

  /** Leaves the group (its session failed or ended, or the group dropped it). */
  leave(error?: unknown): void {
    if (this.status === "gone") return;
    this.status = "gone";
    this.why = error ??
      new NetworkError("This receiver's session ended", "network");
    this.inbox.fail(this.why);
    this.#group.left(this);
    this.notify();
  }

  /** @internal Resolves at the group's next change. */
  wake(): Promise<void> {
    return new Promise((resolve) => this.#wakers.push(resolve));
  }

  /** @internal Wakes whoever waits on {@link wake}. */
  notify(): void {
    for (const w of this.#wakers.splice(0)) w();
  }
}

/** A seat's end of the body interface: its session hands each file to the group. */
class SeatSender implements BodySender {
  readonly midBody = false;
  readonly onReply: (m: Message) => void;
  #group: UdpGroup;
  #seat: Seat;

  constructor(group: UdpGroup, seat: Seat) {
    this.#group = group;
    this.#seat = seat;
    this.onReply = (m) => seat.onReply(m);
  }

  async send(
    index: number,
    entry: FileEntry,
    input: ByteSource,
  ): Promise<SentBody> {
    const { sha256 } = await this.#group.file(
      this.#seat,
      index,
      input as Input,
      { path: entry.path, size: entry.size! },
    );
    return { bytes: entry.size!, resumed: 0, sha256, complete: true };
  }

  abort(): Promise<void> {
    return Promise.resolve();
  }

  end(frame: Uint8Array): Promise<void> {
    return writeAll(this.#seat.link!, frame);
  }

  /** After its last file: the group no longer waits for this seat. */
  flush(): Promise<void> {
    this.#group.finished(this.#seat);
    return Promise.resolve();
  }

  fail(error: PasaError): void {
    this.#seat.leave(error);
  }

  stats(done: Done, complete: boolean): UdpStats {
    return this.#group.stats(this.#seat, done, complete);
  }

  close(): void {
    this.#seat.leave();
  }
}

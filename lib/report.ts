/**
 * Rendering results: human text or JSON Lines (`--json`), one place for
 * each event a command reports. The renderers return strings; a
 * {@link Reporter} routes them to the output streams it is given.
 *
 * @module
 */

import { codeOf, exitCodeOf } from "./errors.ts";
import { displayName } from "./names.ts";
import type { RawResult } from "./raw.ts";
import type { FileResult, TransferResult } from "./session.ts";
import { formatAddress, isLoopback } from "./tcp.ts";
import { formatBits, type UdpStats } from "./udp.ts";
import {
  formatBytes,
  formatDuration,
  formatList,
  formatRate,
} from "./units.ts";
import type { ProgressEvent } from "./progress_events.ts";

/** Where a reporter writes: data-free text streams. */
export interface Output {
  /** Normal output (stdout, or stderr when stdout carries file data). */
  out(text: string): void;
  /** Errors and warnings (stderr). */
  err(text: string): void;
}

/** Serialises an event; non-finite numbers become null, never NaN. */
export function jsonLine(event: Record<string, unknown>): string {
  return JSON.stringify(
    event,
    (_key, value) =>
      typeof value === "number" && !Number.isFinite(value) ? null : value,
  ) + "\n";
}

/** How a listening side describes itself. */
export interface ListeningInfo {
  host: string;
  port: number;
  addresses: string[];
  /** What the other machine should run, with `ADDR` for the address. */
  command: string;
  role: "receiver" | "sender";
  raw: boolean;
  /** Whether the port also takes UDP transfers. */
  udp?: boolean;
  /** The pairing code; null for --insecure and --raw (not encrypted). */
  code?: string | null;
  /** Announced on the local network: a sender needs only the code. */
  announced?: boolean;
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** The human text for a listening side. */
export function renderListening(info: ListeningInfo): string {
  const where = info.host === "::" || info.host === "0.0.0.0"
    ? "all interfaces"
    : formatAddress(info.host, info.port).replace(/:\d+$/, "");
  const what = info.role === "receiver"
    ? "Receiving"
    : "Waiting for a receiver";
  const mode = info.raw
    ? " in the classic --raw format"
    : info.udp
    ? ", TCP and UDP"
    : "";
  const lines = [`${what} on port ${info.port} (${where})${mode}`];
  const everywhere = where === "all interfaces";
  const shown = info.addresses.length > 0 ? info.addresses : ["THIS-MACHINE"];
  // Bound to one address, that is the only one a command can use.
  if (everywhere && info.addresses.length > 0) {
    lines.push(`This machine's addresses: ${info.addresses.join(", ")}`);
  }
  if (info.code) {
    lines.push(
      `Code: ${info.code}  (the other side needs it; keep it private)`,
    );
  }
  lines.push(
    !everywhere && isLoopback(info.host)
      ? "It listens on loopback only: from this machine, run:"
      : "On the other machine, run:",
  );
  if (info.announced && info.code) {
    // Found by its code on this network; the address is the fallback.
    lines.push(
      `  ${info.command.replace(/ --(to|from) ADDR/, "").replace(/\s+$/, "")}`,
      "or, where it cannot find this machine (another network, multicast filtered):",
    );
  }
  for (const address of shown.slice(0, 3)) {
    lines.push(
      `  ${info.command.replace("ADDR", formatAddress(address, info.port))}`,
    );
  }
  return lines.join("\n") + "\n";
}

/** The human text for one verified file. */
export function renderFile(file: FileResult): string {
  return `  ok  ${displayName(file.name)}  ${
    formatBytes(file.bytes)
  }  sha256 ${file.sha256}\n`;
}

/** The human lines of a UDP transfer's statistics. */
export function renderUdp(u: UdpStats): string {
  const passes = u.lossy ? "one pass, --lossy" : "sent, on average";
  const sizes = u.slotsPerDatagram > 1
    ? `of 1 to ${u.slotsPerDatagram} slots (1 slot: ${u.datagramSize} bytes)`
    : `of ${u.datagramSize} bytes`;
  return [
    `  UDP: ${u.datagramsSent} datagrams ${sizes} sent, ` +
    `${u.datagramsReceived} received; first-pass loss ${
      u.firstPassLossPercent.toFixed(2)
    }%`,
    ...(u.fragmentsLost
      ? [
        "  the path lost IP fragments of large datagrams: one slot per datagram from then on",
      ]
      : []),
    `  out of order ${u.outOfOrder}, duplicates ${u.duplicates}, malformed ${u.malformed}; ` +
    `retransmitted ${formatBytes(u.retransmittedBytes)} in ${
      plural(u.repairRounds, "repair round")
    }`,
    ...(u.kernelDrops === undefined ? [] : [
      `  the receiving host's kernel dropped ${u.kernelDrops} UDP datagrams meanwhile (socket buffers full)`,
    ]),
    `  jitter ${u.jitterMs.toFixed(3)} ms; rate ${
      formatBits(u.rateBitsPerSecond)
    } (${passes})`,
  ].join("\n") + "\n";
}

/**
 * Sizes, time and rate, the rate over the bytes this transfer moved: what
 * was already on the receiver (resumed, skipped) is said apart.
 */
export function movedText(
  result: Pick<
    TransferResult,
    | "role"
    | "bytes"
    | "resumedBytes"
    | "unchangedBytes"
    | "sentBytes"
    | "seconds"
    | "bytesPerSecond"
  >,
): string {
  const time = formatDuration(result.seconds);
  if (result.resumedBytes === 0) {
    return `${formatBytes(result.bytes)} in ${time} (${
      formatRate(result.bytesPerSecond)
    })`;
  }
  const there = result.role === "sender"
    ? "already on the receiver"
    : "already here";
  if (result.sentBytes === 0) {
    const quick = result.unchangedBytes;
    const how = quick === 0
      ? "checked with SHA-256"
      : quick >= result.resumedBytes
      ? "same size and modification time"
      : `${formatBytes(result.resumedBytes - quick)} checked with SHA-256, ${
        formatBytes(quick)
      } by size and modification time`;
    return `${
      formatBytes(result.bytes)
    }, all of it ${there} (${how}), nothing sent, in ${time}`;
  }
  const moved = result.role === "sender" ? "sent" : "received";
  return `${formatBytes(result.bytes)}: ${
    formatBytes(result.resumedBytes)
  } ${there}, ${formatBytes(result.sentBytes)} ${moved} in ${time} (${
    formatRate(result.bytesPerSecond)
  })`;
}

/** The human closing summary of a transfer. */
export function renderSummary(result: TransferResult): string {
  const verb = result.role === "sender" ? "Sent" : "Received";
  const dirs = result.dirs > 0
    ? ` and ${plural(result.dirs, "directory").replace("ys", "ies")}`
    : "";
  // Every file already there: no datagram's figures to give.
  const udp = result.udp &&
      (result.sentBytes > 0 || !result.verified || result.measurement)
    ? renderUdp(result.udp)
    : "";
  const security = result.encrypted === undefined
    ? ""
    : result.encrypted
    ? ", encrypted"
    : "; NOT encrypted (--insecure)";
  if (result.measurement) {
    const over = result.udp ? " over UDP" : "";
    const checked = !result.verified
      ? null
      : result.patternChecked
      ? "every byte compared with its generated pattern"
      : "every byte verified with SHA-256";
    const lossy = `--lossy made one pass and lost ${
      result.udp?.firstPassLossPercent.toFixed(2) ?? "some"
    }% of the data`;
    return `Measured${over} (pasa bench), ${movedText(result)}; ${
      checked ?? lossy
    }; nothing kept${security}\n` + udp;
  }
  if (!result.verified) {
    // A --lossy measurement keeps only what arrived whole.
    const lost = (result.incomplete ?? []).map(displayName);
    const which = lost.length > 0
      ? formatList(lost)
      : "what did not arrive whole";
    return udp +
      `INCOMPLETE: --lossy made one pass and lost ${
        result.udp?.firstPassLossPercent.toFixed(2) ?? "some"
      }% of the data; ${which} ${
        lost.length === 1 ? "was" : "were"
      } not kept (a measurement leaves no .pasa.part); ${
        plural(result.fileCount, "file")
      } arrived whole\n`;
  }
  const over = result.udp ? " over UDP" : "";
  const quick = result.unchangedFiles;
  const verified = quick === 0
    ? "every file verified with SHA-256 by the receiver"
    : quick === result.fileCount
    ? "contents not compared (--check compares them)"
    : `${
      plural(quick, "file")
    } taken for their size and modification time, the others verified with SHA-256 by the receiver`;
  return `${verb} ${plural(result.fileCount, "file")}${dirs}${over}, ${
    movedText(result)
  }; ${verified}${security}\n` + udp;
}

/** The human summary of a raw transfer, which cannot be verified. */
export function renderRaw(
  result: RawResult,
  role: "sender" | "receiver",
): string {
  const verb = role === "sender" ? "Sent" : "Received";
  return `${verb} ${displayName(result.name)}, ${
    formatBytes(result.bytes)
  } in ${formatDuration(result.seconds)} (${
    formatRate(result.bytesPerSecond)
  })\n` +
    `Not verified: the classic --raw format carries no hash. Compare this SHA-256 with the other side's:\n` +
    `  sha256 ${result.sha256}\n`;
}

/** Reports a command's events as text or JSON Lines. */
/** What a group send did, for its last line. */
export interface GroupSummary {
  receivers: number;
  /** Receivers that checked every file. */
  verified: number;
  files: number;
  bytes: number;
  /**
   * Of the bytes every receiver that verified everything has, those they
   * had already (files taken as they are), all together.
   */
  alreadyThere: number;
  /** And those sent to them, all together: what the rate is over. */
  delivered: number;
  seconds: number;
  /** Datagrams sent, repairs included: each once to the group (or once per unicast receiver). */
  datagrams: number;
  multicast: boolean;
  encrypted: boolean;
  /** A measurement (`pasa bench --receivers`): a generated payload compared where it landed, nothing kept. */
  measurement?: boolean;
}

/** One receiver's bytes in a group: what was sent to it, over its time, and what it had. */
function groupMoved(
  o: { bytes: number; sentBytes: number; seconds: number },
): string {
  const time = formatDuration(o.seconds);
  const rate = formatRate(o.seconds > 0 ? o.sentBytes / o.seconds : 0);
  if (o.sentBytes === o.bytes) {
    return `${formatBytes(o.bytes)} in ${time} (${rate})`;
  }
  if (o.sentBytes === 0) {
    return `${formatBytes(o.bytes)}, all of it already there, nothing sent`;
  }
  return `${formatBytes(o.bytes)}: ${
    formatBytes(o.bytes - o.sentBytes)
  } already there, ${formatBytes(o.sentBytes)} sent in ${time} (${rate})`;
}

/** The group send's last line: each receiver's bytes over the whole time. */
export function renderGroupSummary(s: GroupSummary): string {
  const all = s.verified === s.receivers;
  const verb = s.measurement ? "Measured" : "Sent";
  if (s.verified === 0) {
    // Nobody got it all: no rate to claim.
    return `${s.measurement ? "Measured at" : "Delivered to"} none of ${
      plural(s.receivers, "receiver")
    } (${plural(s.files, "file")}, ${formatBytes(s.bytes)}); stopped after ${
      formatDuration(s.seconds)
    }, ${s.multicast ? "multicast" : "unicast"}, ${
      s.encrypted ? "encrypted" : "NOT encrypted"
    }\n`;
  }
  const allRate = formatRate(s.seconds > 0 ? s.delivered / s.seconds : 0);
  // Each receiver got the same bytes, or some had files already: then the
  // rate is over what was sent to them, all together.
  const moved = s.alreadyThere === 0
    ? `(${formatRate(s.seconds > 0 ? s.bytes / s.seconds : 0)} to each${
      s.verified > 1 ? `, ${allRate} in all` : ""
    })`
    : s.delivered === 0
    ? "(all of it already there, nothing sent)"
    : `(${formatBytes(s.alreadyThere)} already there, ${
      formatBytes(s.delivered)
    } sent, ${allRate} in all)`;
  return `${all ? verb : `${verb} only partly:`} ${plural(s.files, "file")}, ${
    formatBytes(s.bytes)
  }, to ${s.verified} of ${plural(s.receivers, "receiver")} in ${
    formatDuration(s.seconds)
  } ${moved}, ${s.multicast ? "multicast" : "unicast"}, ${
    s.encrypted ? "encrypted" : "NOT encrypted"
  }, ${
    s.measurement
      ? "every byte compared with its generated pattern by each, nothing kept"
      : "SHA-256 verified by each"
  }\n`;
}

export class Reporter {
  readonly json: boolean;
  readonly quiet: boolean;
  #output: Output;
  /** Files said to be skipped so far. */
  #skipped = 0;

  constructor(
    output: Output,
    options: { json?: boolean; quiet?: boolean } = {},
  ) {
    this.#output = output;
    this.json = options.json ?? false;
    this.quiet = options.quiet ?? false;
  }

  #event(event: Record<string, unknown>): void {
    this.#output.out(jsonLine(event));
  }
  #say(text: string): void {
    if (!this.quiet) this.#output.out(text);
  }

  listening(info: ListeningInfo): void {
    if (this.json) {
      this.#event({
        event: "listening",
        host: info.host,
        port: info.port,
        addresses: info.addresses,
        role: info.role,
        udp: info.udp ?? false,
        code: info.code ?? null,
        announced: info.announced ?? false,
        encrypted: typeof info.code === "string",
      });
    } else this.#say(renderListening(info));
  }

  /** A connection is up; `accepted` when the peer connected to us. */
  /** A sender looks for the receiver with this code number on the LAN. */
  looking(nameplate: string, timeoutMs: number): void {
    if (this.json) this.#event({ event: "looking", nameplate });
    else {
      this.#say(
        `Looking for the receiver with code ${nameplate}-... on this network (up to ${
          timeoutMs / 1000
        } s)...\n`,
      );
    }
  }

  /** A receiver is in a sender's group, which waits for more receivers. */
  groupWait(joined: number, receivers: number): void {
    if (this.json) this.#event({ event: "group-wait", joined, receivers });
    else {
      this.#say(
        `In the sender's group: ${joined}${
          receivers > 0 ? ` of ${receivers}` : ""
        } receivers joined; it starts when ${
          receivers > 0 ? "all have" : "its wait ends"
        }\n`,
      );
    }
  }

  /** A sender gathering a group: a receiver paired and joined. */
  groupJoined(peer: string, joined: number, receivers: number): void {
    if (this.json) {
      this.#event({ event: "joined", peer, joined, receivers });
    } else {
      this.#say(
        `Receiver ${joined}${
          receivers > 0 ? ` of ${receivers}` : ""
        } joined: ${peer}\n`,
      );
    }
  }

  /** A sender starts sending to its group. */
  groupStart(receivers: number, address: string | null): void {
    if (this.json) {
      this.#event({
        event: "group-start",
        receivers,
        multicast: address !== null,
        ...(address ? { group: address } : {}),
      });
    } else {
      this.#say(
        `Sending to ${plural(receivers, "receiver")} ${
          address
            ? `through multicast group ${address}`
            : receivers > 1
            ? "by unicast, a copy to each"
            : "by unicast"
        }\n`,
      );
    }
  }

  /** A sender waits for a group of receivers. */
  groupGathering(
    receivers: number,
    waitSeconds?: number,
    enter = false,
  ): void {
    if (this.json) {
      this.#event({
        event: "gathering",
        receivers,
        ...(waitSeconds !== undefined ? { waitSeconds } : {}),
        ...(enter ? { enter } : {}),
      });
    } else {
      this.#say(
        `Waiting for ${plural(receivers, "receiver")}${
          waitSeconds !== undefined
            ? ` (or ${waitSeconds} s, then with whoever joined)`
            : ""
        }; each runs the command above with the same code${
          enter ? "\nPress Enter to start with whoever has joined" : ""
        }\n`,
      );
    }
  }

  /** A sender gathering a group: a receiver that joined is gone before the start. */
  groupLeft(
    peer: string,
    reason: string,
    joined: number,
    receivers: number,
  ): void {
    if (this.json) {
      this.#event({ event: "left", peer, reason, joined, receivers });
    } else {
      this.#say(
        `Receiver ${peer} left before the start (${reason}): ${joined}${
          receivers > 0 ? ` of ${receivers}` : ""
        } joined\n`,
      );
    }
  }

  /** The end of a group send: how many receivers verified everything, in how long. */
  groupSummary(s: GroupSummary): void {
    if (this.json) this.#event({ event: "group-summary", ...s });
    else this.#say(renderGroupSummary(s));
  }

  /** One receiver's outcome in a group send. */
  groupOutcome(
    peer: string,
    outcome: {
      ok: true;
      files: number;
      bytes: number;
      /** Of those, the bytes sent to it (the rest it had, taken as they are). */
      sentBytes: number;
      /** How it was checked: `sha256`, or `pattern` (a measurement, compared byte for byte). */
      check: "sha256" | "pattern";
      /** Its session's time, pairing excluded, and its first-pass loss. */
      seconds: number;
      firstPassLossPercent?: number;
    } | {
      ok: false;
      error: unknown;
    },
  ): void {
    if (this.json) {
      this.#event({
        event: "receiver",
        peer,
        ok: outcome.ok,
        ...(outcome.ok
          ? {
            files: outcome.files,
            bytes: outcome.bytes,
            sentBytes: outcome.sentBytes,
            check: outcome.check,
            seconds: outcome.seconds,
            bytesPerSecond: outcome.seconds > 0
              ? outcome.sentBytes / outcome.seconds
              : 0,
            ...(outcome.firstPassLossPercent !== undefined
              ? { firstPassLossPercent: outcome.firstPassLossPercent }
              : {}),
          }
          : {
            code: codeOf(outcome.error),
            message: (outcome.error as Error).message,
          }),
      });
    } else {
      this.#say(
        outcome.ok
          ? `  ok      ${peer}: ${plural(outcome.files, "file")}, ${
            groupMoved(outcome)
          }${
            // Nothing sent to it: nothing to verify, nothing lost.
            outcome.sentBytes === 0 && outcome.bytes > 0
              ? ""
              : `, ${outcome.check === "pattern" ? "compared" : "verified"}${
                outcome.firstPassLossPercent !== undefined
                  ? `; first-pass loss ${
                    outcome.firstPassLossPercent.toFixed(2)
                  }%`
                  : ""
              }`}\n`
          : `  failed  ${peer}: ${(outcome.error as Error).message}\n`,
      );
    }
  }

  /** A receiver heard a sender waiting with its code number, and connects to it. */
  found(where: string): void {
    if (this.json) this.#event({ event: "found", role: "sender", peer: where });
    else this.#say(`Found the sender waiting with this code at ${where}\n`);
  }

  /** Files past the listed ones are not said one by one (see {@link fileLister}). */
  moreFiles(listed: number): void {
    if (this.json) this.#event({ event: "more-files", listed });
    else {
      this.#say(
        `  ... and more: files past the first ${listed} are not listed one by one (--every-file lists them; the summary counts them)\n`,
      );
    }
  }

  /** A connection is taking more than a second: say where it waits. */
  connecting(where: string, timeoutMs: number): void {
    if (this.json) this.#event({ event: "connecting", to: where });
    else {
      this.#say(
        `Connecting to ${where}...${
          timeoutMs > 0 ? ` (giving up after ${timeoutMs / 1000} s)` : ""
        }\n`,
      );
    }
  }

  connected(peer: string, accepted: boolean): void {
    if (this.json) this.#event({ event: "connected", peer });
    else {this.#say(
        `${accepted ? "Connection from" : "Connected to"} ${peer}\n`,
      );}
  }

  manifest(files: number, dirs: number, bytes: number | null): void {
    if (this.json) this.#event({ event: "manifest", files, dirs, bytes });
    else {
      const size = bytes === null
        ? "size not known in advance"
        : formatBytes(bytes);
      const d = dirs > 0
        ? `, ${plural(dirs, "directory").replace("ys", "ies")}`
        : "";
      this.#say(`${plural(files, "file")}${d}, ${size}\n`);
    }
  }

  /** Re-hashing a prefix an interrupted transfer left, before resuming. */
  /**
   * What was already received of a file is hashed before it is resumed.
   * Said in text only where that takes a while: a folder of small files
   * says nothing per file.
   */
  checking(name: string, bytes: number): void {
    if (this.json) this.#event({ event: "checking", name, bytes });
    else if (bytes >= CHECKING_SAID_FROM) {
      this.#say(
        `Checking the ${formatBytes(bytes)} of ${
          displayName(name)
        } already received...\n`,
      );
    }
  }

  /** A file continues after a verified prefix. */
  resumed(name: string, offset: number, kept = offset): void {
    if (this.json) {
      this.#event({
        event: "resumed",
        name,
        offset,
        ...(kept > offset ? { kept } : {}),
      });
    } else if (kept > offset) {
      this.#say(
        `Resuming ${displayName(name)}: ${
          formatBytes(kept)
        } already there (whole slots, verified with SHA-256); sending the rest\n`,
      );
    } else {
      this.#say(
        `Resuming ${displayName(name)} after ${
          formatBytes(offset)
        } (prefix verified with SHA-256)\n`,
      );
    }
  }

  /**
   * A cut transfer left part of a file, kept to be resumed (a group's by a
   * send to this receiver alone: a group starts every file over).
   */
  kept(name: string, bytes: number, size: number | null, group = false): void {
    if (this.json) this.#event({ event: "kept", name, bytes, size });
    else {this.#say(
        `Kept ${formatBytes(bytes)}${
          size === null ? "" : ` of ${formatBytes(size)}`
        } of ${displayName(name)} (as a .pasa.part file): ${
          group
            ? "a pasa send to this receiver alone (not to a group) resumes it"
            : "the same pasa send resumes it"
        }\n`,
      );}
  }

  /** The sender stopped in the middle of a file. */
  stopped(name: string, sent: number, size: number | null): void {
    if (this.json) this.#event({ event: "stopped", name, sent, size });
    else {this.#say(
        `Stopped after sending ${formatBytes(sent)}${
          size === null ? "" : ` of ${formatBytes(size)}`
        } of ${displayName(name)}: ${
          size === null
            ? "a stream of unknown size is not kept, and is sent again whole"
            : "the receiver keeps what arrived, and the same command resumes it"
        }\n`,
      );}
  }

  /** Files already on the receiver with the same size and time: taken as they are. */
  unchanged(files: number, bytes: number, role: "sender" | "receiver"): void {
    if (this.json) this.#event({ event: "unchanged", files, bytes });
    else {
      this.#say(
        `${plural(files, "file")}, ${formatBytes(bytes)}, ${
          role === "sender" ? "already on the receiver" : "already here"
        } with the same size and modification time: ${
          role === "sender"
            ? "not read, not sent (--check compares their contents)"
            : "kept as they are, not read"
        }
`,
      );
    }
  }

  /** A sender's new connection (a retry) took over its earlier one, which was cut unseen. */
  takeover(): void {
    if (this.json) this.#event({ event: "takeover" });
    else {
      this.#say(
        "The same sender again (a retry): its earlier connection, cut unseen, is ended; what it kept is resumed\n",
      );
    }
  }

  /** The receiver's user is asked to accept (within `timeoutMs`, 0: no limit). */
  asking(timeoutMs: number): void {
    if (this.json) this.#event({ event: "asking", timeoutMs });
    else {
      this.#say(
        `Waiting for the receiver's user to accept${
          timeoutMs > 0 ? ` (up to ${Math.ceil(timeoutMs / 1000)} s)` : ""
        }...\n`,
      );
    }
  }

  /**
   * A file the receiver already has, identical: skipped. Said for the
   * first {@link LISTED_FILES} in text (the summary counts them all).
   */
  skipped(name: string): void {
    if (this.json) this.#event({ event: "skipped", name });
    else if (this.#skipped++ < LISTED_FILES) {
      this.#say(
        `Skipping ${
          displayName(name)
        }: the receiver already has it (same SHA-256)\n`,
      );
    } else if (this.#skipped === LISTED_FILES + 1) {
      this.#say(
        `  ... and more files the receiver already has (the summary counts them)\n`,
      );
    }
  }

  /** The receiver's prefix differs from the file: it starts over. */
  restart(name: string): void {
    if (this.json) this.#event({ event: "restart", name });
    else {
      this.#say(
        `The receiver's partial copy of ${
          displayName(name)
        } differs from this file: starting it over\n`,
      );
    }
  }

  /** `--json` only: where a long transfer is, at most once a second. */
  progress(event: ProgressEvent): void {
    if (this.json) this.#event({ event: "progress", ...event });
  }

  file(file: FileResult): void {
    if (this.json) this.#event({ event: "file", ...file });
    else this.#say(renderFile(file));
  }

  summary(result: TransferResult): void {
    if (this.json) this.#event({ event: "summary", ...result });
    else this.#say(renderSummary(result));
  }

  raw(result: RawResult, role: "sender" | "receiver"): void {
    if (this.json) {
      this.#event({
        event: "summary",
        role,
        raw: true,
        verified: false,
        files: [result],
        bytes: result.bytes,
        seconds: result.seconds,
        bytesPerSecond: result.bytesPerSecond,
      });
    } else this.#say(renderRaw(result, role));
  }

  warning(message: string): void {
    if (this.json) this.#event({ event: "warning", message });
    else if (!this.quiet) this.#output.err(`pasa: warning: ${message}\n`);
  }

  /** Reports an error; in `--json` mode also as an event on stdout. */
  error(error: unknown, context?: string): void {
    const message = error instanceof Error ? error.message : String(error);
    const text = context ? `${context}: ${message}` : message;
    if (this.json) {
      this.#event({
        event: "error",
        code: codeOf(error),
        exitCode: exitCodeOf(error),
        message: text,
      });
    }
    this.#output.err(`pasa: ${text}\n`);
  }
}

/** How many files a transfer lists one by one, unless asked for all. */
export const LISTED_FILES = 100;

/** Checking what was already received is said in text from this size on (16 MiB: ~10 ms of hashing). */
export const CHECKING_SAID_FROM = 16 * 1024 * 1024;

/**
 * Says each verified file of one transfer, up to {@link LISTED_FILES} of
 * them (or all, with `every`), then once that there are more: a folder of
 * 100,000 files prints its progress and its summary, not 100,000 lines.
 */
export function fileLister(
  reporter: Reporter,
  every: boolean,
): (file: FileResult) => void {
  let said = 0;
  return (file) => {
    if (every || said < LISTED_FILES) reporter.file(file);
    else if (said === LISTED_FILES) reporter.moreFiles(LISTED_FILES);
    said++;
  };
}

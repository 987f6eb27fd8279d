/**
 * Every control message of protocol v1, declared once (PROTOCOL.md section
 * 5 and the sections each message names): the schemas below validate what
 * arrives (lib/protocol.ts `decodeControl`), give the TypeScript types, and
 * generate PROTOCOL.md's message reference and `protocol.schema.json`
 * (scripts/protocol_schema.ts; a test fails when either drifts).
 *
 * Unknown members are dropped, never an error (forward compatibility); a
 * member of the wrong shape is. Rules that tie members together are checks
 * with their own message, and their descriptions say them in words.
 *
 * @module
 */

import * as v from "valibot";

/** Permission bits, 0 to 0o777. */
export const MAX_MODE = 0o777;
/** Latest modification time accepted: 9999-12-31T23:59:59.999Z. */
export const MAX_MTIME = 253_402_300_799_999;
/** Most slots one datagram may carry (a datagram stays under 65,000 bytes anyway). */
export const MAX_SLOTS_PER_DATAGRAM = 64;
/** Most byte ranges one resume offer may list. */
export const MAX_RESUME_RANGES = 1000;
/** Most UDP ports a transfer is spread over, the main one included (PROTOCOL.md 9.1). */
export const LANES_MAX = 16;
/** Most ranges of missing slots one `udp-missing` frame may list. */
export const MAX_MISSING_RANGES = 2000;

const NON_NEGATIVE = "must be a non-negative integer";
const GROUP_ADDRESS =
  "must be an IPv4 multicast address (224.0.0.0 to 239.255.255.255)";
const PORT = "must be a port number, 1 to 65535";
const TRANSFER = "must be 1 to 4294967295";
const KEY = "must be 32 bytes in base64 (44 characters)";
const HEX64 = "must be 64 lowercase hex digits";
const BOOLEAN = "must be true or false";

/** A JSON number holding a non-negative integer (1.0 is 1). */
const count = v.pipe(
  v.number(NON_NEGATIVE),
  v.safeInteger(NON_NEGATIVE),
  v.minValue(0, NON_NEGATIVE),
);
const boolean = v.boolean(BOOLEAN);
const text = v.string("must be a string");
/** A SHA-256 digest or an HMAC-SHA256 tag. */
const hex64 = v.pipe(v.string(HEX64), v.regex(/^[0-9a-f]{64}$/, HEX64));
const yes = v.literal(true, "must be true");
const slots = v.pipe(
  count,
  v.minValue(1, `must be 1 to ${MAX_SLOTS_PER_DATAGRAM}`),
  v.maxValue(MAX_SLOTS_PER_DATAGRAM, `must be 1 to ${MAX_SLOTS_PER_DATAGRAM}`),
);
/** A `[first, count]` or `[start, length]` pair of non-negative integers. */
const lanes = v.pipe(
  count,
  v.minValue(1, `must be 1 to ${LANES_MAX}`),
  v.maxValue(LANES_MAX, `must be 1 to ${LANES_MAX}`),
);
const port = v.pipe(count, v.minValue(1, PORT), v.maxValue(65_535, PORT));
const pair = v.tuple([count, count], "must be a [first, count] pair");

/**
 * `ranges` of a `udp-missing`: sorted, not overlapping, non-empty
 * `[first, count]` slot ranges, so that no slot is asked for twice.
 */
const slotRanges = v.pipe(
  v.array(pair, "must be a list of [first, count] pairs"),
  v.maxLength(
    MAX_MISSING_RANGES,
    `must be at most ${MAX_MISSING_RANGES} sorted, non-overlapping [first, count] pairs`,
  ),
  v.check(
    (ranges) => {
      let end = 0;
      for (const [first, count] of ranges) {
        if (count === 0 || first < end) return false;
        end = first + count;
      }
      return true;
    },
    `must be at most ${MAX_MISSING_RANGES} sorted, non-overlapping [first, count] pairs`,
  ),
);

/** `ranges` of a resume: sorted, apart, non-empty `[start, length]` byte ranges. */
const byteRanges = v.pipe(
  v.array(pair, "must be a list of [start, length] pairs"),
  v.maxLength(
    MAX_RESUME_RANGES,
    `must be at most ${MAX_RESUME_RANGES} sorted, apart [start, length] pairs`,
  ),
  v.check(
    (ranges) => {
      let end = -1;
      for (const [start, length] of ranges) {
        if (length === 0 || start <= end) return false;
        end = start + length;
      }
      return true;
    },
    `must be at most ${MAX_RESUME_RANGES} sorted, apart [start, length] pairs`,
  ),
  v.description(
    `at most ${MAX_RESUME_RANGES} [start, length] byte ranges, sorted, apart (each starts after the previous one ends) and non-empty`,
  ),
);

const fileEntry = v.pipe(
  v.object({
    path: v.pipe(text, v.description("the name, `/`-separated (section 6)")),
    type: v.literal("file"),
    size: v.pipe(
      v.nullable(count),
      v.description("bytes, or null when not known in advance"),
    ),
    mode: v.pipe(
      v.nullish(
        v.pipe(
          count,
          v.maxValue(MAX_MODE, "must be permission bits, 0 to 0o777"),
        ),
      ),
      v.description("optional: permission bits, 0 to 511 (0o777)"),
    ),
    mtime: v.pipe(
      v.nullish(
        v.pipe(count, v.maxValue(MAX_MTIME, "must be before the year 10000")),
      ),
      v.description(
        "optional: modification time, milliseconds since the Unix epoch, before the year 10000",
      ),
    ),
  }),
  // An optional member sent as null is absent.
  v.transform(({ mode, mtime, ...rest }) => ({
    ...rest,
    ...(mode != null ? { mode } : {}),
    ...(mtime != null ? { mtime } : {}),
  })),
);
const dirEntry = v.object({
  path: v.pipe(text, v.description("the name, `/`-separated (section 6)")),
  type: v.literal("dir"),
});
/** One item of the manifest: a file (size null if unknown) or a directory. */
export const EntrySchema = v.variant(
  "type",
  [fileEntry, dirEntry],
  `must be "file" or "dir"`,
);

/** Every message, by type: its schema (a `description` says who sends it, and when). */
export const MESSAGES = {
  hello: v.pipe(
    v.object({
      type: v.literal("hello"),
      role: v.picklist(
        ["sender", "receiver"],
        `must be "sender" or "receiver"`,
      ),
      software: v.pipe(
        v.fallback(v.string(), ""),
        v.description(
          'free text such as "pasa/0.1.0" (anything else reads as "")',
        ),
      ),
      security: v.pipe(
        v.array(text, "must be a list of strings"),
        v.description(
          "the security modes it takes, preferred first (section 4)",
        ),
      ),
    }),
    v.description("Both sides, first (section 5)."),
  ),
  pake: v.pipe(
    v.object({
      type: v.literal("pake"),
      share: v.pipe(
        v.string(),
        v.regex(
          /^04[0-9a-f]{128}$/,
          "must be an uncompressed P-256 point in hex",
        ),
        v.description(
          "an uncompressed SEC1 P-256 point, 130 lowercase hex digits",
        ),
      ),
      confirm: v.pipe(
        v.optional(hex64),
        v.description("B only: its confirmation MAC cB"),
      ),
    }),
    v.description(
      "The pairing's shares: A (the side that connected) first, then B (section 4.1).",
    ),
  ),
  "pake-confirm": v.pipe(
    v.object({
      type: v.literal("pake-confirm"),
      confirm: v.pipe(hex64, v.description("A's confirmation MAC cA")),
    }),
    v.description(
      "A, the last plaintext frame of an encrypted session (section 4.1).",
    ),
  ),
  bench: v.pipe(
    v.object({
      type: v.literal("bench"),
      pattern: v.pipe(
        v.optional(hex64),
        v.description("optional: the seed of a generated payload (section 5)"),
      ),
    }),
    v.description(
      "The sender, before its first manifest: a measurement (section 5).",
    ),
  ),
  "bench-request": v.pipe(
    v.object({
      type: v.literal("bench-request"),
      size: v.pipe(
        v.nullable(count),
        v.description("payload bytes, or null with durationMs"),
      ),
      durationMs: v.pipe(
        v.nullable(count),
        v.description("send for this long (TCP only), or null"),
      ),
      udp: v.pipe(
        v.nullish(
          v.object({
            datagramSize: count,
            lossy: boolean,
            rate: v.nullable(count),
            port: count,
          }),
        ),
        v.transform((u) => u ?? null),
        v.description(
          "null for TCP, or {datagramSize, lossy, rate (bit/s or null), port}",
        ),
      ),
    }),
    v.check(
      (m) => m.size !== null || m.durationMs !== null,
      `a bench request needs "size" or "durationMs"`,
    ),
    v.check(
      (m) => m.udp === null || m.size !== null,
      "a UDP bench request needs a size",
    ),
    v.description(
      "A `bench --reverse` client, after the hellos (section 5). It needs a size or a duration; over UDP, a size.",
    ),
  ),
  "udp-request": v.pipe(
    v.object({
      type: v.literal("udp-request"),
      datagramSize: v.pipe(
        count,
        v.description(
          "the size of a one-slot datagram, header and tag included",
        ),
      ),
      lossy: v.pipe(
        boolean,
        v.description("one pass, no repair (section 9.4)"),
      ),
      slotsPerDatagram: v.pipe(
        v.optional(slots),
        v.description(
          `optional: 1 to ${MAX_SLOTS_PER_DATAGRAM}; absent means 1`,
        ),
      ),
      earlyRepair: v.pipe(
        v.optional(yes),
        v.description(
          "optional: the sender takes udp-missing during a pass (section 9.3)",
        ),
      ),
      lanes: v.pipe(
        v.optional(lanes),
        v.description(
          `optional: 1 to ${LANES_MAX} UDP ports to spread datagrams over, the main one included; absent means 1`,
        ),
      ),
      group: v.pipe(
        v.optional(v.object({
          address: v.pipe(
            v.string(GROUP_ADDRESS),
            v.regex(
              /^2(2[4-9]|3[0-9])\.\d{1,3}\.\d{1,3}\.\d{1,3}$/,
              GROUP_ADDRESS,
            ),
            v.check(
              (a) => a.split(".").every((n) => Number(n) <= 255),
              GROUP_ADDRESS,
            ),
          ),
          port: v.pipe(
            count,
            v.minValue(1, PORT),
            v.maxValue(65_535, PORT),
          ),
          transfer: v.pipe(
            count,
            v.minValue(1, TRANSFER),
            v.maxValue(2 ** 32 - 1, TRANSFER),
          ),
          key: v.pipe(
            v.optional(v.pipe(
              v.string(KEY),
              v.regex(/^[A-Za-z0-9+/]{43}=$/, KEY),
            )),
            v.description("encrypted sessions only"),
          ),
        }, "must be an object")),
        v.description(
          "optional, one sender to many receivers: {address, port, transfer, key} (section 15)",
        ),
      ),
    }),
    v.description(
      "The sender, before its first manifest: bodies as datagrams (section 9.1; to a group, section 15).",
    ),
  ),
  wait: v.pipe(
    v.object({
      type: v.literal("wait"),
      joined: v.pipe(count, v.description("receivers paired so far")),
      receivers: v.pipe(
        count,
        v.description("how many it waits for (0: until its deadline)"),
      ),
    }),
    v.description(
      "A sender waiting for more receivers to join a group, before its options, at least every 5 s (section 15).",
    ),
  ),
  manifest: v.pipe(
    v.object({
      type: v.literal("manifest"),
      entries: v.pipe(
        v.array(EntrySchema, "must be a list"),
        v.description("manifest entries (section 5)"),
      ),
      last: v.pipe(boolean, v.description("true on the final manifest frame")),
      token: v.pipe(
        v.optional(
          v.pipe(
            v.string("must be 32 lowercase hex digits"),
            v.regex(/^[0-9a-f]{32}$/, "must be 32 lowercase hex digits"),
          ),
        ),
        v.description(
          "optional, first frame only: the same for every attempt of one send; an older session with it is taken over (section 5.3)",
        ),
      ),
    }),
    v.description(
      "The sender: the list of what it sends, in frames of entries.",
    ),
  ),
  asking: v.pipe(
    v.object({
      type: v.literal("asking"),
      timeoutMs: v.pipe(
        count,
        v.description(
          "how long its user has to answer, in milliseconds (0: no limit)",
        ),
      ),
    }),
    v.description(
      "The receiver, after the manifest, before its accept: its user is asked to accept the transfer (section 5.2).",
    ),
  ),
  accept: v.pipe(
    v.object({
      type: v.literal("accept"),
      security: v.pipe(
        text,
        v.description(
          'the mode in use (section 4: "none" or the encrypted mode)',
        ),
      ),
      udp: v.pipe(
        v.optional(
          v.object({
            transfer: count,
            slotsPerDatagram: v.optional(slots),
            ports: v.optional(
              v.pipe(
                v.array(port, "must be an array of port numbers"),
                v.maxLength(
                  LANES_MAX - 1,
                  `must list at most ${LANES_MAX - 1} ports`,
                ),
              ),
            ),
            port: v.optional(port),
          }, "must be an object"),
        ),
        v.description(
          "for UDP: {transfer, slotsPerDatagram, ports} (section 9.1); to a group, also port (section 15)",
        ),
      ),
      offers: v.pipe(
        v.optional(count),
        v.description("optional: how many resume-offer frames follow"),
      ),
      pattern: v.pipe(
        v.optional(yes),
        v.description("optional: true when it compares a generated payload"),
      ),
    }),
    v.description("The receiver takes the whole manifest (section 5.2)."),
  ),
  "resume-offer": v.pipe(
    v.object({
      type: v.literal("resume-offer"),
      index: count,
      offset: v.pipe(count, v.description("bytes of the file it already has")),
      ranges: v.pipe(
        v.optional(byteRanges),
        v.description("UDP only, optional: whole slots kept past the prefix"),
      ),
      unchanged: v.pipe(
        v.optional(yes),
        v.description(
          "optional: the whole file is there with the same size and time",
        ),
      ),
    }),
    v.description(
      "The receiver, after accept: what it already has of a file (section 5.3).",
    ),
  ),
  "resume-claim": v.pipe(
    v.object({
      type: v.literal("resume-claim"),
      index: count,
      offset: v.pipe(
        count,
        v.description("where the body starts, or 0 to start over"),
      ),
      sha256: v.pipe(
        v.optional(hex64),
        v.description(
          "SHA-256 of the sender's first offset bytes; required when offset > 0 and not unchanged",
        ),
      ),
      rangesSha256: v.pipe(
        v.optional(hex64),
        v.description("optional: SHA-256 of its bytes in the offered ranges"),
      ),
      unchanged: v.pipe(
        v.optional(yes),
        v.description(
          "optional: claims an unchanged offer (at its offset, no sha256)",
        ),
      ),
    }),
    v.check(
      (m) => m.unchanged === true || m.offset === 0 || m.sha256 !== undefined,
      `"sha256" must be 64 lowercase hex digits`,
    ),
    // What a claim means, as the rules above make it: a digest only where it counts.
    v.transform((m): {
      type: "resume-claim";
      index: number;
      offset: number;
      sha256?: string;
      rangesSha256?: string;
      unchanged?: true;
    } => {
      const { sha256, unchanged, ...rest } = m;
      return {
        ...rest,
        ...(unchanged
          ? { unchanged }
          : m.offset > 0
          ? { sha256: sha256! }
          : {}),
      };
    }),
    v.description(
      "The sender's answer to each offer (section 5.3). With unchanged, offset is the offer's (0 for an empty file) and sha256 is not read; otherwise sha256 is required when offset is more than 0.",
    ),
  ),
  "resume-answer": v.pipe(
    v.object({
      type: v.literal("resume-answer"),
      index: count,
      offset: v.pipe(
        count,
        v.description("where the body starts: the claimed offset, or 0"),
      ),
      ranges: v.pipe(
        v.optional(byteRanges),
        v.description(
          "optional: the offered ranges, when their digest matched",
        ),
      ),
      unchanged: v.pipe(
        v.optional(yes),
        v.description(
          "optional: the file is taken as it is; nothing more follows for it",
        ),
      ),
    }),
    v.description("The receiver's verdict on each claim (section 5.3)."),
  ),
  "udp-report": v.pipe(
    v.object({
      type: v.literal("udp-report"),
      received: v.pipe(count, v.description("datagrams received so far")),
      expected: v.pipe(
        count,
        v.description("highest sequence number seen, plus one"),
      ),
      probes: v.pipe(
        v.optional(count),
        v.description("optional: of those received, the probes"),
      ),
      lanes: v.pipe(
        v.optional(
          v.pipe(
            v.array(count, "must be an array of counts"),
            v.maxLength(LANES_MAX - 1, `must list at most ${LANES_MAX - 1}`),
          ),
        ),
        v.description(
          "optional: datagrams received on each of the accept's ports, in order",
        ),
      ),
    }),
    v.description(
      "The receiver, about every 100 ms of a UDP transfer (section 9.3).",
    ),
  ),
  "udp-pass-end": v.pipe(
    v.object({
      type: v.literal("udp-pass-end"),
      index: count,
      sent: v.pipe(
        count,
        v.description("datagrams sent so far (the next sequence number)"),
      ),
      retransmittedBytes: count,
      rate: v.pipe(
        count,
        v.description("the rate really sent at so far, bit/s"),
      ),
      addressed: v.pipe(
        v.optional(count),
        v.description(
          "optional, in a group: of the `sent`, those sent to this receiver (section 15)",
        ),
      ),
    }),
    v.description("The sender, after each pass over a file (section 9.3)."),
  ),
  "udp-missing": v.pipe(
    v.object({
      type: v.literal("udp-missing"),
      index: count,
      ranges: v.pipe(
        slotRanges,
        v.description(
          "slots still missing, as [first slot, count] pairs: sorted, not overlapping, none empty, at most 2000",
        ),
      ),
      early: v.pipe(
        v.optional(yes),
        v.description(
          "optional: sent during a pass, to a request with earlyRepair; no pass ends with it",
        ),
      ),
    }),
    v.description(
      "The receiver, after a pass that left holes, or during one (section 9.3).",
    ),
  ),
  "udp-file-done": v.pipe(
    v.object({
      type: v.literal("udp-file-done"),
      index: count,
      complete: boolean,
    }),
    v.description(
      "The receiver: every slot is in, or a lossy pass is over (section 9.3).",
    ),
  ),
  "file-end": v.pipe(
    v.object({
      type: v.literal("file-end"),
      index: v.pipe(
        count,
        v.description("the file's index among the manifest's files"),
      ),
      size: v.pipe(
        count,
        v.description("the whole file's size (a resumed prefix included)"),
      ),
      sha256: v.pipe(
        hex64,
        v.description("SHA-256 of the whole file (a resumed prefix included)"),
      ),
    }),
    v.description("The sender, after a file's body (section 5.1)."),
  ),
  "file-ok": v.pipe(
    v.object({
      type: v.literal("file-ok"),
      index: count,
      sha256: v.pipe(
        hex64,
        v.description(
          "the digest the receiver computed (equal to the sender's)",
        ),
      ),
    }),
    v.description(
      "The receiver, once the file is verified, synced and renamed (section 5.2).",
    ),
  ),
  done: v.pipe(
    v.object({
      type: v.literal("done"),
      files: v.pipe(count, v.description("files delivered")),
      bytes: v.pipe(
        count,
        v.description(
          "their sizes together (resumed prefixes, skipped and unchanged files included: what is now under their names)",
        ),
      ),
      udp: v.pipe(
        v.fallback(
          v.optional(
            v.pipe(
              v.record(v.string(), v.unknown()),
              v.transform((u) =>
                Object.fromEntries(
                  Object.entries(u).filter(([, x]) =>
                    typeof x === "boolean" ||
                    (typeof x === "number" && Number.isFinite(x))
                  ),
                ) as Record<string, number | boolean>
              ),
            ),
          ),
          undefined,
        ),
        v.description(
          "optional: a UDP transfer's statistics, numbers and booleans (section 9.5; other values are dropped)",
        ),
      ),
    }),
    v.description("The receiver, after the last file (section 5.2)."),
  ),
  error: v.pipe(
    v.object({
      type: v.literal("error"),
      code: v.pipe(text, v.description("what went wrong (section 7)")),
      message: v.pipe(text, v.description("human-readable, one line")),
    }),
    v.description("Either side, to end the session (section 7)."),
  ),
} as const;

/** Any control message, told apart by its `type`. */
export const MessageSchema = v.variant(
  "type",
  Object.values(MESSAGES),
  "unknown type",
);

type Out<K extends keyof typeof MESSAGES> = v.InferOutput<
  (typeof MESSAGES)[K]
>;
export type Entry = v.InferOutput<typeof EntrySchema>;
export type Hello = Out<"hello">;
export type Pake = Out<"pake">;
export type PakeConfirm = Out<"pake-confirm">;
export type Bench = Out<"bench">;
export type BenchRequest = Out<"bench-request">;
export type UdpRequest = Out<"udp-request">;
export type Wait = Out<"wait">;
export type Manifest = Out<"manifest">;
export type Asking = Out<"asking">;
export type Accept = Out<"accept">;
export type ResumeOffer = Out<"resume-offer">;
export type ResumeClaim = Out<"resume-claim">;
export type ResumeAnswer = Out<"resume-answer">;
export type UdpReport = Out<"udp-report">;
export type UdpPassEnd = Out<"udp-pass-end">;
export type UdpMissing = Out<"udp-missing">;
export type UdpFileDone = Out<"udp-file-done">;
export type FileEnd = Out<"file-end">;
export type FileOk = Out<"file-ok">;
export type Done = Out<"done">;
export type ErrorMessage = Out<"error">;
/** Every control message of protocol v1. */
export type Message = v.InferOutput<typeof MessageSchema>;

/** Why a value is not a message, in a phrase naming the member: `"size" must be ...`. */
function why(issue: v.BaseIssue<unknown>, value: unknown): string {
  const keys = (issue.path ?? [])
    .map((p) => p.key)
    .filter((k): k is string => typeof k === "string");
  if (
    keys.length === 1 && keys[0] === "type" && issue.message === "unknown type"
  ) {
    return `unknown type ${JSON.stringify((value as { type?: unknown }).type)}`;
  }
  const where = keys.at(-1);
  if (
    issue.type === "object" && issue.received === "undefined" &&
    issue.expected === `"${where}"`
  ) return `"${where}" is missing`;
  return where === undefined ? issue.message : `"${where}" ${issue.message}`;
}

/** Validates `value` as a message: the message (unknown members dropped), or why not. */
export function parseMessage(
  value: unknown,
): { message: Message } | { why: string } {
  const result = v.safeParse(MessageSchema, value);
  if (result.success) return { message: result.output };
  return { why: why(result.issues[0], value) };
}

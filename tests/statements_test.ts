/**
 * Every normative statement of PROTOCOL.md (a sentence with MUST, MUST NOT
 * or SHOULD) names the tests that check pasa's side of it, or says in the
 * document that it is not yet tested. A new statement without either fails
 * here; so does a test named here that no longer exists.
 */
import assert from "node:assert/strict";
import { join } from "node:path";

const ROOT = join(import.meta.dirname!, "..");
const document = await Deno.readTextFile(join(ROOT, "PROTOCOL.md"));
/** The document with its line breaks and indents folded: phrases may wrap. */
const folded = document.replace(/\s+/g, " ");

/** A statement, by a phrase of it, and the tests (file, words of its name) that check it. */
type Statement = { says: string; tests: [string, string][] } | {
  says: string;
  untested: true;
};

const STATEMENTS: Statement[] = [
  {
    says: "MUST be whole numbers from 0 to 2^53 - 1",
    tests: [
      ["conformance_test.ts", "§5: numbers are non-negative integers"],
      ["large_test.ts", "a file over 4 GiB round-trips"],
    ],
  },
  {
    says: "Receivers MUST ignore object members they do not know",
    tests: [["protocol_test.ts", "ignores unknown fields"]],
  },
  {
    says: "Each side MUST send its 8-byte preamble as soon as",
    tests: [["conformance_test.ts", "a receiver sends its preamble and hello"]],
  },
  {
    says: "senders MUST send 0; receivers MUST ignore",
    tests: [
      ["conformance_test.ts", "§2: receivers ignore the preamble's flags"],
      ["protocol_test.ts", "writes PASA, version 1 and zero flags"],
    ],
  },
  {
    says: "A peer MUST NOT rely on it",
    tests: [["protocol_test.ts", "rejects a classic size header"]],
  },
  {
    says: "MUST still understand a version-1 `error` frame",
    tests: [["conformance_test.ts", "a preamble of another version"]],
  },
  {
    says: "A reader MUST check `L` before",
    tests: [
      ["protocol_test.ts", "checkControlLength() rejects a length over"],
      ["safety_test.ts", "garbage and oversized frames get protocol errors"],
    ],
  },
  {
    says: "a receiver MUST accept any size up to `MAX_CHUNK`",
    tests: [["protocol_test.ts", "checkChunkLength() allows MAX_CHUNK"]],
  },
  {
    says: "MUST send `ABORT_CHUNK` and then its `error` frame",
    tests: [
      ["conformance_test.ts", "§3: ABORT_CHUNK then error"],
      ["conformance_test.ts", "aborts the body before its error"],
    ],
  },
  {
    says: "both sides MUST come to the same one",
    tests: [
      ["pairing_test.ts", "--insecure on one side only fails on both"],
      ["pairing_test.ts", "both sides --insecure: plain"],
    ],
  },
  {
    says: "`size` bytes MUST be sent",
    tests: [
      ["safety_test.ts", "more bytes than declared is a protocol error"],
      ["safety_test.ts", "fewer bytes than declared is a protocol error"],
    ],
  },
  {
    says: "The sender SHOULD stream later files without waiting",
    tests: [["conformance_test.ts", "§5.1: the sender streams later files"]],
  },
  {
    says: "a sender MUST read all `K` offers",
    tests: [["conformance_test.ts", "offers, claims and answers in order"]],
  },
  {
    says: "A receiver MUST reject a claim out of order",
    tests: [["conformance_test.ts", "a claim at an offset other than 0"]],
  },
  {
    says: "A sender MUST reject any other `o` or ranges",
    tests: [[
      "liars_test.ts",
      "refuses to resume at an offset it never claimed",
    ]],
  },
  {
    says: "Both ends MUST continue their running hash from the prefix",
    tests: [
      ["resume_test.ts", "send --retry reconnects after a cut and resumes"],
      ["liars_test.ts", "claims an offered prefix with the digest of its own"],
    ],
  },
  {
    says: "A receiver MUST treat every name as hostile",
    tests: [
      ["safety_test.ts", "every unsafe name is refused with unsafe-name"],
      [
        "conformance_test.ts",
        "is refused (unsafe-name) and nothing is written",
      ],
    ],
  },
  {
    says: "receiver MUST also refuse (pasa's codes in brackets)",
    tests: [
      ["safety_test.ts", "a manifest listing a name twice is refused"],
      ["transfer_test.ts", "--max-size refuses a larger transfer up front"],
      ["transfer_test.ts", "an existing file is refused with exit 4"],
    ],
  },
  {
    says: "cannot hold a name SHOULD refuse it the same way",
    tests: [
      ["names_test.ts", "segment is longer than 255"],
      ["hostile_test.ts", "a name too long for NAME.pasa.part"],
    ],
  },
  {
    says: "Receivers MUST NOT write outside their output directory",
    tests: [["safety_test.ts", "a symbolic link in the output directory"]],
  },
  {
    says: "MUST read an `error` frame where it expects a `hello`",
    tests: [["load_test.ts", "--max-connections refuses the excess"]],
  },
  {
    says: "A side that receives an `error` frame MUST NOT answer it",
    tests: [["conformance_test.ts", "does not answer it with another"]],
  },
  {
    says: "a sender heard MUST NOT end a listening receiver",
    tests: [[
      "lab_test.ts",
      "neither ends the receiver nor spends its one pairing",
    ]],
  },
  {
    says:
      "A sender SHOULD give up on a receiver whose repairs of one file do not end",
    tests: [["udp_send_test.ts", "is given up after 32 rounds"]],
  },
  {
    says: "A side stopped by its user (Ctrl-C) SHOULD say so before it closes",
    tests: [
      ["transfer_test.ts", "stopped with Ctrl-C in the middle of a file"],
      ["transfer_test.ts", "ends the chunk it is writing and tells"],
      ["udp_test.ts", "Ctrl-C stops a UDP sender mid-pass at once"],
    ],
  },
  {
    says: "Implementations MUST accept codes they do not know",
    tests: [["conformance_test.ts", "an error code a side does not know"]],
  },
  {
    says: "Every `file` entry MUST have a known `size`",
    tests: [["conformance_test.ts", "over UDP every file entry must have"]],
  },
  {
    says: "MUST already receive datagrams on",
    tests: [["udp_test.ts", "every fixture round-trips over UDP"]],
  },
  {
    says: "A receiver MUST count and ignore, without failing the transfer",
    tests: [["udp_test.ts", "malformed datagrams are counted and ignored"]],
  },
  {
    says: "MUST carry exactly one slot",
    tests: [["udp_sizing_test.ts", "every eighth sequence number is a probe"]],
  },
  {
    says: "the receiver MUST be ready to take datagrams of file",
    tests: [["udp_test.ts", "every fixture round-trips over UDP"]],
  },
  {
    says:
      "A receiver MUST NOT send `early` frames to a sender that did not ask",
    tests: [[
      "conformance_test.ts",
      "§9.3: a receiver never asks during the pass when the sender did not say earlyRepair",
    ]],
  },
  {
    says: "A receiver that lists ports MUST add to each `udp-report`",
    tests: [[
      "conformance_test.ts",
      "§9.1: a receiver asked for lanes lists its other ports",
    ]],
  },
  {
    says: "senders MUST accept reports without `probes`",
    tests: [["conformance_test.ts", "a report without probes is a report"]],
  },
  {
    says: "Senders SHOULD adapt their rate",
    tests: [["udp_unit_test.ts", "RateController doubles while clean"]],
  },
  {
    says: "numbers MUST be finite",
    tests: [["conformance_test.ts", "not finite numbers are dropped"]],
  },
  {
    says: "announcement MUST NOT carry anything derived from the code's secret",
    tests: [["discovery_test.ts", "nothing of the code's words"]],
  },
  {
    says: "it MUST NOT try them in turn",
    tests: [["lab_test.ts", "the sender refuses to guess and names both"]],
  },
  {
    says: "sender MUST read `accept.offers`",
    tests: [["conformance_test.ts", "offers, claims and answers in order"]],
  },
  {
    says: "SHOULD extend its time-out at each",
    tests: [["group_test.ts", "outwaits its own --timeout"]],
  },
  {
    says: "`T` MUST be the request's transfer id",
    tests: [
      ["group_test.ts", "accepts with the sender's transfer id"],
      ["group_lab_test.ts", "reaches three receivers through a multicast"],
    ],
  },
  {
    says: "A receiver MUST refuse a group without a key",
    tests: [["group_test.ts", "refuses a group without a key"]],
  },
  {
    says: "SHOULD refuse one it cannot write files for",
    tests: [["group_test.ts", "--stdout refuses a group"]],
  },
  {
    says: "A sender SHOULD NOT let one receiver hold the others",
    tests: [
      ["group_lab_test.ts", "dropped under --min-rate 300M"],
      ["group_lab_test.ts", "a receiver killed mid-transfer fails alone"],
    ],
  },
  {
    says: "MUST keep what arrived as for a cut transfer",
    tests: [["group_lab_test.ts", "keeps what arrived"]],
  },
];

Deno.test("every MUST, MUST NOT and SHOULD of PROTOCOL.md is listed here, with its tests or as not yet tested", () => {
  const lines = document.split("\n");
  const unlisted: string[] = [];
  for (const [k, line] of lines.entries()) {
    if (!/\b(MUST|SHOULD)\b/.test(line) || k < 6) continue; // 6: RFC 2119's own line
    // The statement may wrap: look at this line with its neighbours,
    // folded, for a phrase listed here that runs through this line.
    const fold = (from: number, to: number) =>
      lines.slice(Math.max(0, from), to).map((l) => l.trim()).join(" ");
    const before = fold(k - 2, k);
    const around = fold(k - 2, k + 3);
    const start = before.length, end = start + line.trim().length + 1;
    const covers = (says: string) => {
      for (let at = around.indexOf(says); at >= 0;) {
        if (at < end && at + says.length > start) return true;
        at = around.indexOf(says, at + 1);
      }
      return false;
    };
    if (!STATEMENTS.some((s) => covers(s.says))) {
      unlisted.push(`line ${k + 1}: ${line.trim()}`);
    }
  }
  assert.deepEqual(unlisted, [], "statements without a test or a mark");
});

Deno.test("each statement listed is still in PROTOCOL.md, and each test it names exists", async () => {
  const sources = new Map<string, string>();
  for (const statement of STATEMENTS) {
    assert.ok(folded.includes(statement.says), statement.says);
    if ("untested" in statement) continue;
    for (const [file, name] of statement.tests) {
      if (!sources.has(file)) {
        sources.set(file, await Deno.readTextFile(join(ROOT, "tests", file)));
      }
      assert.ok(
        sources.get(file)!.replace(/\s+/g, " ").includes(name),
        `${file} has no test named like "${name}"`,
      );
    }
  }
});

Deno.test("a statement no test checks says so in the document, next to it", () => {
  for (const statement of STATEMENTS) {
    if (!("untested" in statement)) continue;
    const at = folded.indexOf(statement.says);
    assert.match(
      folded.slice(at, at + 300),
      /not yet tested/,
      statement.says,
    );
  }
});

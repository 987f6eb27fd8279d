/**
 * Prints the annotated hex example of PROTOCOL.md from the real encoders:
 * a sender sends one file, `hola.txt` holding "hola\n". A test checks the
 * document against this output, so the example cannot drift from the code.
 *
 *   deno run scripts/protocol_example.ts
 *
 * @module
 */

import { createHash } from "node:crypto";
import {
  encodeControl,
  encodePreamble,
  type Message,
} from "../lib/protocol.ts";

const body = new TextEncoder().encode("hola\n");
const sha256 = createHash("sha256").update(body).digest("hex");

type Step = [who: "S" | "R", what: string, bytes: Uint8Array];

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}
const control = (
  m: Message,
): [string, Uint8Array] => [JSON.stringify(m), encodeControl(m)];
const hello = (role: "sender" | "receiver"): Message => ({
  type: "hello",
  role,
  software: "pasa/1.0.0",
  security: ["none"],
});

/** The steps of the example session, in the order they are sent. */
export function exampleSteps(): Step[] {
  const steps: Step[] = [
    ["S", "preamble: PASA, version 1, flags 0", encodePreamble()],
    ["R", "preamble: PASA, version 1, flags 0", encodePreamble()],
  ];
  for (
    const [who, m] of [
      ["S", hello("sender")],
      ["R", hello("receiver")],
      ["S", {
        type: "manifest",
        entries: [{ path: "hola.txt", type: "file", size: 5 }],
        last: true,
      }],
      ["R", { type: "accept", security: "none" }],
    ] as ["S" | "R", Message][]
  ) {
    const [json, frame] = control(m);
    steps.push([
      who,
      `control frame, ${frame.length - 4} bytes: ${json}`,
      frame,
    ]);
  }
  steps.push([
    "S",
    "body chunk: length 5, then the bytes",
    new Uint8Array([...u32(5), ...body]),
  ]);
  steps.push(["S", "end of body: a zero-length chunk", u32(0)]);
  for (
    const [who, m] of [
      ["S", { type: "file-end", index: 0, size: 5, sha256 }],
      ["R", { type: "file-ok", index: 0, sha256 }],
      ["R", { type: "done", files: 1, bytes: 5 }],
    ] as ["S" | "R", Message][]
  ) {
    const [json, frame] = control(m);
    steps.push([
      who,
      `control frame, ${frame.length - 4} bytes: ${json}`,
      frame,
    ]);
  }
  return steps;
}

/** Hex lines of 16 bytes, each with its ASCII beside it. */
export function hexdump(bytes: Uint8Array): string[] {
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; i += 16) {
    const row = bytes.subarray(i, i + 16);
    const hex = Array.from(row, (b) => b.toString(16).padStart(2, "0")).join(
      " ",
    );
    const ascii = Array.from(
      row,
      (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : "."),
    ).join("");
    lines.push(`    ${hex.padEnd(47)}  ${ascii}`);
  }
  return lines;
}

/** The whole example as it appears in PROTOCOL.md. */
export function renderExample(): string {
  const out: string[] = [];
  for (const [who, what, bytes] of exampleSteps()) {
    out.push(`${who === "S" ? "S -> R" : "R -> S"}  ${what}`);
    out.push(...hexdump(bytes));
  }
  return out.join("\n");
}

if (import.meta.main) {
  Deno.stdout.writeSync(new TextEncoder().encode(renderExample() + "\n"));
}

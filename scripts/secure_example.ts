/**
 * Prints the worked example of PROTOCOL.md section 4 from the real code:
 * pairing with the code `7-guitar-nebula` and fixed scalars, the key
 * schedule, one record and one datagram. A test checks the document
 * against this output, so the example cannot drift from the code.
 *
 *   deno run scripts/secure_example.ts
 *
 * @module
 */

import { deriveW, pakeFinish, pakeStart } from "../lib/pake.ts";
import { encodeControl } from "../lib/protocol.ts";
import {
  type DirectionKey,
  RecordLayer,
  sealDatagram,
} from "../lib/records.ts";
import { SECURE_MODE, sessionKeys } from "../lib/secure.ts";
import { UDP_HEADER, writeHeader } from "../lib/udp.ts";

const CODE = "7-guitar-nebula";
// Any scalars in [1, order) do; these are RFC 9382's first vector's.
const X = 0x43dd0fd7215bdcb482879fca3220c6a968e66d70b1356cac18bb26c84a78d729n;
const Y = 0xdcb60106f276b02606d8ef0a328c02e4b629f84f89786af5befb0bc75b6e66ben;

const hex = (b: Uint8Array) =>
  Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/** Wraps long hex at 64 digits, indented under its label. */
function field(label: string, value: string): string {
  const lines = value.match(/.{1,64}/g) ?? [""];
  return lines.map((l, i) =>
    `${i === 0 ? label.padEnd(18) : " ".repeat(18)}${l}`
  )
    .join("\n");
}

/** Seals `plain` as the first record A sends, and returns the record's bytes. */
async function firstRecord(
  out: DirectionKey,
  into: DirectionKey,
  plain: Uint8Array,
): Promise<Uint8Array> {
  const written: number[] = [];
  const layer = new RecordLayer(
    {
      read: () => Promise.resolve(null),
      write: (p) => {
        written.push(...p);
        return Promise.resolve(p.length);
      },
      closeWrite: () => Promise.resolve(),
      close: () => {},
    },
    out,
    into,
  );
  await layer.write(plain);
  return new Uint8Array(written);
}

/** The example, as it appears in PROTOCOL.md. */
export async function renderSecureExample(): Promise<string> {
  const w = deriveW(CODE);
  const a = pakeStart("A", w, X);
  const b = pakeStart("B", w, Y);
  const ids = [
    new TextEncoder().encode("pasa/1 connecting side"),
    new TextEncoder().encode("pasa/1 listening side"),
  ] as const;
  const aad = new TextEncoder().encode(SECURE_MODE);
  const r = pakeFinish(a, b.share, ...ids, aad);
  const keysA = sessionKeys(r.ke, true);

  const frame = encodeControl({
    type: "manifest",
    entries: [{ path: "hola.txt", type: "file", size: 5 }],
    last: true,
  });
  const record = await firstRecord(keysA.recordsOut, keysA.recordsIn, frame);

  const datagram = new Uint8Array(UDP_HEADER + 5 + 16);
  writeHeader(datagram, {
    transfer: 0x01020304,
    index: 0,
    sequence: 0,
    offset: 0,
    sentMicros: 1000,
  });
  datagram.set(new TextEncoder().encode("hola\n"), UDP_HEADER);
  sealDatagram(keysA.datagrams.out, datagram, 5);

  return [
    field("code", CODE),
    field("w", w.toString(16).padStart(64, "0")),
    field("x", X.toString(16)),
    field("pA (A sends)", hex(a.share)),
    field("y", Y.toString(16)),
    field("pB (B sends)", hex(b.share)),
    field("TT", hex(r.transcript)),
    field("Ke", hex(r.ke)),
    field("Ka", hex(r.ka)),
    field("KcA", hex(r.kcA)),
    field("KcB", hex(r.kcB)),
    field("cB (B sends)", hex(r.cB)),
    field("cA (A sends)", hex(r.cA)),
    field("key tcp A>B", hex(keysA.recordsOut.key)),
    field("key tcp B>A", hex(keysA.recordsIn.key)),
    field("key udp A>B", hex(keysA.datagrams.out.key)),
    field("key udp B>A", hex(keysA.datagrams.in.key)),
    field("frame (plain)", hex(frame)),
    field("record 0 A>B", hex(record)),
    field("datagram 0 A>B", hex(datagram)),
  ].join("\n");
}

if (import.meta.main) {
  // deno-lint-ignore no-console
  console.log(await renderSecureExample());
}

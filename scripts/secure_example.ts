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

/** Seals each of `plains` as the records A sends, in order, and returns each record's bytes. */
async function records(
  out: DirectionKey,
  into: DirectionKey,
  plains: Uint8Array[],
): Promise<Uint8Array[]> {
  let written: number[] = [];
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
  const sealed: Uint8Array[] = [];
  for (const plain of plains) {
    await layer.write(plain);
    sealed.push(new Uint8Array(written));
    written = [];
  }
  return sealed;
}

/** A datagram A sends: `text` in slot `slot` of file `index`, sequence `sequence`. */
function datagramOf(
  key: DirectionKey,
  h: { index: number; sequence: number; offset: number; sentMicros: number },
  text: string,
): Uint8Array {
  const body = new TextEncoder().encode(text);
  const datagram = new Uint8Array(UDP_HEADER + body.length + 16);
  writeHeader(datagram, { transfer: 0x01020304, ...h });
  datagram.set(body, UDP_HEADER);
  sealDatagram(key, datagram, body.length);
  return datagram;
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
  // A's second record: its sequence number 1 goes into the nonce.
  const second = encodeControl({
    type: "file-end",
    index: 0,
    size: 5,
    sha256: "133ee989293f92736301280c6f14c89d521200c17dcdcecca30cd20705332d44",
  });
  const [record, record1] = await records(
    keysA.recordsOut,
    keysA.recordsIn,
    [frame, second],
  );
  const datagram = datagramOf(keysA.datagrams.out, {
    index: 0,
    sequence: 0,
    offset: 0,
    sentMicros: 1000,
  }, "hola\n");
  // File 3, sequence 7: the nonce takes the sequence number, never the index.
  const datagram7 = datagramOf(keysA.datagrams.out, {
    index: 3,
    sequence: 7,
    offset: 2832,
    sentMicros: 2000,
  }, "adios\n");

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
    field("record 0 A>B", hex(record!)),
    field("frame 1 (plain)", hex(second)),
    field("record 1 A>B", hex(record1!)),
    field("datagram 0 A>B", hex(datagram)),
    field("datagram 7 A>B", hex(datagram7)),
  ].join("\n");
}

if (import.meta.main) {
  // deno-lint-ignore no-console
  console.log(await renderSecureExample());
}

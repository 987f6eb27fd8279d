import assert from "node:assert/strict";
import { ProtocolError } from "../lib/errors.ts";
import {
  checkChunkLength,
  checkControlLength,
  decodeControl,
  decodePreamble,
  encodeControl,
  encodePreamble,
  MAX_CHUNK,
  MAX_CONTROL_FRAME,
  type Message,
} from "../lib/protocol.ts";

const enc = new TextEncoder();
const payload = (frame: Uint8Array) => frame.subarray(4);

Deno.test("encodePreamble() writes PASA, version 1 and zero flags", () => {
  assert.deepEqual([...encodePreamble()], [0x50, 0x41, 0x53, 0x41, 0, 1, 0, 0]);
  assert.equal(decodePreamble(encodePreamble()), 1);
  assert.equal(decodePreamble(encodePreamble(7)), 7);
});

Deno.test("decodePreamble() rejects a classic size header with a hint to use --raw", () => {
  const classic = new Uint8Array([0, 0, 0x10, 0, 1, 2, 3, 4]);
  assert.throws(() => decodePreamble(classic), (e: unknown) => {
    assert.ok(e instanceof ProtocolError);
    assert.equal(e.code, "not-pasa");
    assert.match(e.message, /began with bytes 00 00 10 00.*--raw/);
    return true;
  });
});

const messages: Message[] = [
  { type: "hello", role: "sender", software: "pasa/0.1.0", security: ["none"] },
  {
    type: "manifest",
    entries: [{ path: "a/b.txt", type: "file", size: 5 }, {
      path: "a",
      type: "dir",
    }],
    last: true,
  },
  {
    type: "manifest",
    entries: [{ path: "in", type: "file", size: null }],
    last: false,
  },
  { type: "accept", security: "none" },
  {
    type: "accept",
    security: "none",
    udp: { transfer: 9, slotsPerDatagram: 11 },
  },
  { type: "udp-request", datagramSize: 1472, lossy: false },
  {
    type: "udp-request",
    datagramSize: 1472,
    lossy: false,
    slotsPerDatagram: 11,
  },
  { type: "udp-report", received: 10, expected: 12, probes: 1 },
  { type: "file-end", index: 3, size: 2 ** 40, sha256: "ab".repeat(32) },
  { type: "file-ok", index: 0, sha256: "0".repeat(64) },
  { type: "done", files: 2, bytes: 10 },
  { type: "error", code: "exists", message: "Refusing to overwrite: a" },
];
for (const message of messages) {
  Deno.test(`encodeControl() and decodeControl() round-trip ${message.type}`, () => {
    const frame = encodeControl(message);
    assert.equal(new DataView(frame.buffer).getUint32(0), frame.length - 4);
    assert.deepEqual(decodeControl(payload(frame)), message);
  });
}

const malformed: [string, string, RegExp][] = [
  ["not JSON", "{nope", /not UTF-8 JSON/],
  ["an array", "[1]", /not a JSON object/],
  ["an unknown type", '{"type":"launch"}', /unknown type "launch"/],
  ["a hello without role", '{"type":"hello","security":[]}', /"role"/],
  [
    "a manifest entry of another type",
    '{"type":"manifest","last":true,"entries":[{"path":"x","type":"link"}]}',
    /"type"/,
  ],
  [
    "a negative size",
    '{"type":"manifest","last":true,"entries":[{"path":"x","type":"file","size":-1}]}',
    /"size"/,
  ],
  [
    "a fractional size",
    '{"type":"manifest","last":true,"entries":[{"path":"x","type":"file","size":1.5}]}',
    /"size"/,
  ],
  [
    "an uppercase digest",
    `{"type":"file-ok","index":0,"sha256":"${"A".repeat(64)}"}`,
    /"sha256"/,
  ],
  [
    "a UDP request for no slots per datagram",
    '{"type":"udp-request","datagramSize":1472,"lossy":false,"slotsPerDatagram":0}',
    /"slotsPerDatagram"/,
  ],
  [
    "an accept granting 65 slots per datagram",
    '{"type":"accept","security":"none","udp":{"transfer":1,"slotsPerDatagram":65}}',
    /"slotsPerDatagram"/,
  ],
  [
    "a short digest",
    '{"type":"file-end","index":0,"size":1,"sha256":"abc"}',
    /"sha256"/,
  ],
  [
    "resume ranges out of order",
    '{"type":"resume-offer","index":0,"offset":0,"ranges":[[100,10],[50,10]]}',
    /"ranges" must be at most 1000 sorted, apart/,
  ],
  [
    "resume ranges that overlap",
    '{"type":"resume-answer","index":0,"offset":0,"ranges":[[0,10],[5,10]]}',
    /"ranges" must be at most 1000 sorted, apart/,
  ],
  [
    "missing slots listed twice (one slot asked for again and again)",
    '{"type":"udp-missing","index":0,"ranges":[[0,100],[0,100]]}',
    /"ranges" must be at most 2000 sorted, non-overlapping \[first, count\] pairs/,
  ],
  [
    "missing slots that overlap, or an empty range",
    '{"type":"udp-missing","index":0,"ranges":[[0,10],[5,1],[20,0]]}',
    /"ranges" must be at most 2000 sorted, non-overlapping/,
  ],
  [
    "a manifest token that is not 32 lowercase hex digits",
    '{"type":"manifest","entries":[],"last":true,"token":"ABCD"}',
    /"token" must be 32 lowercase hex digits/,
  ],
  [
    "a claim past 0 with no digest and not unchanged",
    '{"type":"resume-claim","index":0,"offset":10}',
    /"sha256" must be 64 lowercase hex digits/,
  ],
];

Deno.test("decodeControl() takes an unchanged claim at offset 0: an empty file offered unchanged", () => {
  assert.deepEqual(
    decodeControl(
      enc.encode(
        '{"type":"resume-claim","index":3,"offset":0,"unchanged":true}',
      ),
    ),
    { type: "resume-claim", index: 3, offset: 0, unchanged: true },
  );
});
for (const [what, json, pattern] of malformed) {
  Deno.test(`decodeControl() rejects ${what}`, () => {
    assert.throws(() => decodeControl(enc.encode(json)), (e: unknown) => {
      assert.ok(e instanceof ProtocolError);
      assert.match(e.message, pattern);
      return true;
    });
  });
}

Deno.test("decodeControl() rejects invalid UTF-8", () => {
  assert.throws(
    () => decodeControl(new Uint8Array([0x7b, 0xff, 0x7d])),
    ProtocolError,
  );
});

Deno.test("decodeControl() ignores unknown fields for forward compatibility", () => {
  const m = decodeControl(
    enc.encode('{"type":"done","files":1,"bytes":2,"future":true}'),
  );
  assert.deepEqual(m, { type: "done", files: 1, bytes: 2 });
});

Deno.test("checkControlLength() rejects a length over MAX_CONTROL_FRAME and zero", () => {
  checkControlLength(MAX_CONTROL_FRAME);
  assert.throws(
    () => checkControlLength(MAX_CONTROL_FRAME + 1),
    /over the 65536-byte limit/,
  );
  assert.throws(() => checkControlLength(0xffff_ffff), ProtocolError);
  assert.throws(() => checkControlLength(0), /empty/);
});

Deno.test("checkChunkLength() allows MAX_CHUNK and the abort marker, nothing between", () => {
  checkChunkLength(0);
  checkChunkLength(MAX_CHUNK);
  checkChunkLength(0xffff_ffff);
  assert.throws(() => checkChunkLength(MAX_CHUNK + 1), ProtocolError);
  assert.throws(() => checkChunkLength(0xffff_fffe), ProtocolError);
});

Deno.test("encodeControl() refuses to build a frame over the cap", () => {
  const huge: Message = {
    type: "error",
    code: "x",
    message: "y".repeat(MAX_CONTROL_FRAME),
  };
  assert.throws(() => encodeControl(huge), RangeError);
});

Deno.test("decodeControl() reads a bench request and insists on a size for UDP", () => {
  const m = decodeControl(new TextEncoder().encode(
    '{"type":"bench-request","size":1024,"durationMs":null,"udp":{"datagramSize":1472,"lossy":true,"rate":null,"port":5000}}',
  ));
  assert.deepEqual(m, {
    type: "bench-request",
    size: 1024,
    durationMs: null,
    udp: { datagramSize: 1472, lossy: true, rate: null, port: 5000 },
  });
  assert.throws(
    () =>
      decodeControl(new TextEncoder().encode(
        '{"type":"bench-request","size":null,"durationMs":1000,"udp":{"datagramSize":1472,"lossy":false,"rate":null,"port":1}}',
      )),
    /needs a size/,
  );
  assert.throws(
    () =>
      decodeControl(
        new TextEncoder().encode(
          '{"type":"bench-request","size":null,"durationMs":null,"udp":null}',
        ),
      ),
    /needs "size" or "durationMs"/,
  );
});

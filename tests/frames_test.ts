import assert from "node:assert/strict";
import { ProtocolError } from "../lib/errors.ts";
import { type ByteSource, concat, FrameReader } from "../lib/frames.ts";
import { encodeControl, encodePreamble } from "../lib/protocol.ts";
import { within } from "./helpers.ts";

/** A source that returns `bytes` in pieces of the given sizes (cycled). */
function splitSource(bytes: Uint8Array, sizes: number[]): ByteSource {
  let at = 0;
  let i = 0;
  return {
    read(p: Uint8Array) {
      if (at >= bytes.length) return Promise.resolve(null);
      const n = Math.min(
        sizes[i++ % sizes.length]!,
        p.length,
        bytes.length - at,
      );
      p.set(bytes.subarray(at, at + n));
      at += n;
      return Promise.resolve(n);
    },
  };
}

function chunk(payload: Uint8Array): Uint8Array {
  const head = new Uint8Array(4);
  new DataView(head.buffer).setUint32(0, payload.length);
  return concat(head, payload);
}

const body = new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff);
const stream = concat(
  encodePreamble(),
  encodeControl({ type: "accept", security: "none" }),
  chunk(body),
  new Uint8Array(4),
  encodeControl({ type: "done", files: 1, bytes: body.length }),
);

for (const sizes of [[1], [3], [5, 1, 2], [4096], [65536, 7], [1 << 20]]) {
  Deno.test(`FrameReader reads a session split into pieces of ${sizes.join(",")} bytes`, async () => {
    const reader = new FrameReader(splitSource(stream, sizes), {
      bufferSize: 70_000,
      batch: 10_000,
    });
    assert.deepEqual(await reader.readExact(8, "preamble"), encodePreamble());
    assert.deepEqual(await reader.readControl(), {
      type: "accept",
      security: "none",
    });
    const length = await reader.readU32("chunk header");
    assert.equal(length, body.length);
    const got = new Uint8Array(length);
    let at = 0;
    while (at < length) {
      const piece = await reader.piece(length - at);
      assert.ok(piece !== null);
      got.set(piece, at);
      at += piece.length;
    }
    assert.deepEqual(got, body);
    assert.equal(await reader.readU32("chunk header"), 0);
    assert.deepEqual(await reader.readControl(), {
      type: "done",
      files: 1,
      bytes: body.length,
    });
    assert.equal(await reader.piece(10), null);
  });
}

Deno.test("FrameReader reports how far a truncated frame header got", async () => {
  const reader = new FrameReader(splitSource(new Uint8Array([0, 0]), [1]));
  await assert.rejects(() => reader.readU32("frame header"), (e: unknown) => {
    assert.ok(e instanceof ProtocolError);
    assert.equal(e.code, "truncated");
    assert.equal(
      e.message,
      "Cannot read frame header: stream ended after 2 of 4 bytes",
    );
    return true;
  });
});

Deno.test("FrameReader says the other side hung up when a stream ends between frames", async () => {
  const reader = new FrameReader(splitSource(new Uint8Array([]), []));
  await assert.rejects(
    () => reader.readControl(),
    (e: unknown) =>
      e instanceof ProtocolError && e.code === "truncated" &&
      e.message ===
        "Cannot read control frame header: the other side closed the connection (it was stopped, or failed without saying why)",
  );
});

Deno.test("FrameReader rejects an oversized control frame before reading its body", async () => {
  let reads = 0;
  const header = new Uint8Array([0x7f, 0xff, 0xff, 0xff]);
  const source: ByteSource = {
    read(p) {
      reads++;
      if (reads > 1) throw new Error("read past the header");
      p.set(header);
      return Promise.resolve(4);
    },
  };
  await assert.rejects(
    () => new FrameReader(source).readControl(),
    /over the 65536-byte limit/,
  );
  assert.equal(reads, 1);
});

Deno.test("FrameReader: a read asked for while whenReadable's read is under way waits for it, and the frames come whole and in order", async () => {
  const frames = [
    encodeControl({ type: "resume-claim", index: 0, offset: 0 }),
    encodeControl({ type: "resume-claim", index: 1, offset: 0 }),
  ];
  const bytes = concat(...frames);
  // A source that answers only when told, a piece at a time.
  const waiting: (() => void)[] = [];
  let at = 0;
  const source: ByteSource = {
    read: (p) =>
      new Promise((resolve) =>
        waiting.push(() => {
          if (at >= bytes.length) return resolve(null);
          const n = Math.min(p.length, 7, bytes.length - at);
          p.set(bytes.subarray(at, at + n));
          at += n;
          resolve(n);
        })
      ),
  };
  const reader = new FrameReader(source);
  const readable = reader.whenReadable(false);
  const first = reader.readControl(); // while the first read is under way
  const second = first.then(() => reader.readControl());
  for (let i = 0; i < 100 && at < bytes.length; i++) {
    await new Promise((r) => setTimeout(r, 0));
    waiting.shift()?.();
  }
  await within(5_000, "the whenReadable read", readable);
  assert.deepEqual(
    (await within(5_000, "both frames", Promise.all([first, second]))).map((
      m,
    ) => m.type === "resume-claim" ? m.index : -1),
    [0, 1],
  );
});

Deno.test("FrameReader: a long read asked for while whenReadable's read is under way (in the small buffer) gets every byte, in order", async () => {
  const bytes = new Uint8Array(100_000).map((_, i) => (i * 7 + (i >> 8)) & 255);
  const waiting: ((p?: unknown) => void)[] = [];
  let at = 0;
  const source: ByteSource = {
    read: (p) =>
      new Promise((resolve) =>
        waiting.push(() => {
          if (at >= bytes.length) return resolve(null);
          const n = Math.min(p.length, 30_000, bytes.length - at);
          p.set(bytes.subarray(at, at + n));
          at += n;
          resolve(n);
        })
      ),
  };
  const reader = new FrameReader(source, { bufferSize: 256 * 1024 });
  const readable = reader.whenReadable(false); // a read into the small buffer
  const long = reader.readExact(bytes.length, "a long body"); // needs the big one
  for (let i = 0; i < 100 && at < bytes.length; i++) {
    await new Promise((r) => setTimeout(r, 0));
    waiting.shift()?.();
  }
  await within(5_000, "the whenReadable read", readable);
  const got = await within(5_000, "the long read", long);
  // Compared as a whole: a diff of 100,000 bytes takes assert ages to print.
  const first = got.findIndex((b, i) => b !== bytes[i]);
  assert.ok(
    got.length === bytes.length && first < 0,
    `the bytes differ from byte ${first}`,
  );
});

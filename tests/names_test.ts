import assert from "node:assert/strict";
import { RefusedError } from "../lib/errors.ts";
import { Destination } from "../lib/fsio.ts";
import {
  checkWirePath,
  displayName,
  unsafeReason,
  windowsReason,
} from "../lib/names.ts";

const unsafe: [string, RegExp][] = [
  ["", /empty/],
  ["/etc/passwd", /absolute/],
  ["../up", /"\.\." segment/],
  ["a/../../b", /"\.\." segment/],
  ["a/./b", /"\." segment/],
  ["a//b", /empty path segment/],
  ["a/", /empty path segment/],
  ["dir\\file", /backslash/],
  ["C:evil", /drive letter/],
  ["c:/windows", /drive letter/],
  ["nul\u0000byte", /control character/],
  ["esc\u001b[31mred", /control character/],
  ["new\nline", /control character/],
  ["del\u007f", /control character/],
  ["c1\u009b", /control character/],
  ["x".repeat(256), /segment is longer than 255/],
  // Bytes, not characters: 86 CJK characters are 258 bytes of UTF-8.
  ["語".repeat(86), /segment is longer than 255/],
  ["é".repeat(128), /segment is longer than 255/],
  [("d/".repeat(2100)) + "f", /longer than 4096/],
  ["lone\ud800surrogate", /not valid Unicode/],
  ["trail\udfff", /not valid Unicode/],
  ["x.pasa.part", /reserved for files being received/],
  ["dir.PASA.Part/x", /reserved for files being received/],
  [("d/".repeat(128)) + "f", /more than 128 levels deep/],
];
for (const [path, reason] of unsafe) {
  Deno.test(`unsafeReason() refuses ${JSON.stringify(path.slice(0, 30))}`, () => {
    assert.match(unsafeReason(path) ?? "accepted", reason);
    assert.throws(() => checkWirePath(path), RefusedError);
  });
}

for (
  const path of [
    "a.txt",
    "dir/sub/file.bin",
    "café con leche ñandú.txt",
    "..hidden",
    "a..b",
    "日本/語",
    "x.pasa.partial",
    "pasa.part.txt",
    ("d/".repeat(127)) + "f",
    "語".repeat(85), // 255 bytes: the most a segment may take
    "é".repeat(127) + "x", // 255 bytes too
  ]
) {
  Deno.test(`unsafeReason() accepts ${JSON.stringify(path)}`, () => {
    assert.equal(unsafeReason(path), undefined);
  });
}

Deno.test("displayName() escapes control characters so a name cannot drive the terminal", () => {
  assert.equal(displayName("plain.txt"), "plain.txt");
  assert.equal(displayName("with space"), '"with space"');
  assert.equal(displayName("a\u001b[31mb"), '"a\\x1b[31mb"');
  assert.equal(displayName("line\nbreak"), '"line\\x0abreak"');
  assert.equal(displayName('quote"back\\'), '"quote\\"back\\\\"');
  assert.equal(displayName("bidi\u2028"), '"bidi\\u{2028}"');
  // U+202E would make this print as "aexe.png".
  assert.equal(displayName("a\u202egnp.exe"), '"a\\u{202e}gnp.exe"');
  assert.equal(displayName("iso\u2066late"), '"iso\\u{2066}late"');
  assert.equal(displayName("lone\ud800"), '"lone\\u{d800}"');
  assert.equal(displayName(""), '""');
});

const windowsOnly: [string, RegExp][] = [
  ["CON", /reserved device name/],
  ["dir/nul.txt", /reserved device name/],
  ["COM1", /reserved device name/],
  ["lpt9.log", /reserved device name/],
  ["trailing.", /ends in a dot or a space/],
  ["dir /x", /ends in a dot or a space/],
  ["ab:c", /character Windows forbids/],
  ["what?", /character Windows forbids/],
  ["pipe|name", /character Windows forbids/],
];
for (const [path, reason] of windowsOnly) {
  Deno.test(`windowsReason() refuses ${JSON.stringify(path)}, which other systems accept`, () => {
    assert.equal(unsafeReason(path), undefined);
    assert.match(windowsReason(path) ?? "accepted", reason);
    assert.throws(() => checkWirePath(path, true), RefusedError);
    checkWirePath(path, false);
  });
}

for (
  const path of [
    "console.txt",
    "null",
    "com10",
    "a.b",
    "nul_file",
    "report v2.pdf",
  ]
) {
  Deno.test(`windowsReason() accepts ${JSON.stringify(path)}`, () => {
    assert.equal(windowsReason(path), undefined);
  });
}

Deno.test("a receiver with Windows names on refuses CON before writing anything", async () => {
  const root = await Deno.makeTempDir();
  try {
    const dest = new Destination(root, { windowsNames: true });
    await assert.rejects(
      () => dest.vet([{ path: "CON", type: "file", size: 1 }]),
      /reserved device name/,
    );
    await new Destination(root, { windowsNames: false }).vet([{
      path: "CON",
      type: "file",
      size: 1,
    }]);
    assert.deepEqual([...Deno.readDirSync(root)], []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

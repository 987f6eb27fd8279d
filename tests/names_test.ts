import assert from "node:assert/strict";
import { RefusedError } from "../lib/errors.ts";
import { checkWirePath, displayName, unsafeReason } from "../lib/names.ts";

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
  [("d/".repeat(2100)) + "f", /longer than 4096/],
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
  assert.equal(displayName(""), '""');
});

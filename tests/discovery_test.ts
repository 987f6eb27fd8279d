import assert from "node:assert/strict";
import {
  decodeAnnouncement,
  encodeAnnouncement,
  nameplateOf,
  sidesOf,
} from "../lib/discovery.ts";

Deno.test("a code's nameplate is its leading number, the public part; the words are not in it", () => {
  assert.equal(nameplateOf("603-badge-nutmeg"), "603");
  assert.equal(nameplateOf("7-guitar-nebula"), "7");
  assert.equal(nameplateOf("guitar-nebula"), null);
  assert.equal(nameplateOf("603"), null);
  assert.equal(nameplateOf("1234567890-a-b"), null, "at most 9 digits");
});

Deno.test("an announcement carries the nameplate, port and UDP flag, and nothing of the code's words", () => {
  const a = {
    role: "receiver" as const,
    nameplate: "603",
    port: 9000,
    udp: true,
  };
  const bytes = encodeAnnouncement(a);
  assert.deepEqual(decodeAnnouncement(bytes), a);
  const text = new TextDecoder().decode(bytes);
  assert.deepEqual(Object.keys(JSON.parse(text)).sort(), [
    "nameplate",
    "pasa",
    "port",
    "role",
    "udp",
  ]);
});

Deno.test("a sender waiting with --listen announces itself the same way, as a sender", () => {
  const a = {
    role: "sender" as const,
    nameplate: "661",
    port: 9000,
    udp: false,
  };
  assert.deepEqual(decodeAnnouncement(encodeAnnouncement(a)), a);
});

Deno.test("an announcement may carry the announcer's id, 16 hex digits, and nothing else there", () => {
  const a = {
    role: "receiver" as const,
    nameplate: "671",
    port: 9000,
    udp: false,
    id: "0123456789abcdef",
  };
  assert.deepEqual(decodeAnnouncement(encodeAnnouncement(a)), a);
  for (const id of ["0123", "0123456789ABCDEF", 7, "g123456789abcdef"]) {
    const bad = new TextEncoder().encode(
      JSON.stringify({ pasa: 1, ...a, id }),
    );
    assert.equal(decodeAnnouncement(bad), null, String(id));
  }
});

Deno.test("anything else on the group is ignored, never trusted", () => {
  const e = new TextEncoder();
  for (
    const junk of [
      "not json",
      "{}",
      JSON.stringify({ pasa: 2, role: "receiver", nameplate: "1", port: 9 }),
      JSON.stringify({ pasa: 1, role: "relay", nameplate: "1", port: 9 }),
      JSON.stringify({ pasa: 1, role: "receiver", nameplate: "x1", port: 9 }),
      JSON.stringify({ pasa: 1, role: "receiver", nameplate: "1", port: 0 }),
      JSON.stringify({
        pasa: 1,
        role: "receiver",
        nameplate: "1",
        port: 70000,
      }),
      "x".repeat(600),
    ]
  ) assert.equal(decodeAnnouncement(e.encode(junk)), null, junk.slice(0, 40));
});

Deno.test("sidesOf(): one id from one IPv4 and one IPv6 address is one side (by IPv4); from two addresses of a family, two (an impostor repeating it)", () => {
  const at = (hostname: string) => ({ hostname, port: 9000 });
  assert.deepEqual(
    sidesOf([
      { id: "aaaaaaaaaaaaaaaa", hit: at("fe80::1%eth0") },
      { id: "aaaaaaaaaaaaaaaa", hit: at("10.0.0.2") },
    ]),
    [at("10.0.0.2")],
  );
  assert.deepEqual(
    sidesOf([
      { id: "aaaaaaaaaaaaaaaa", hit: at("10.0.0.2") },
      { id: "aaaaaaaaaaaaaaaa", hit: at("10.0.0.66") },
    ]),
    [at("10.0.0.2"), at("10.0.0.66")],
  );
  assert.deepEqual(
    sidesOf([
      { id: undefined, hit: at("10.0.0.2") },
      { id: undefined, hit: at("10.0.0.3") },
    ]),
    [at("10.0.0.2"), at("10.0.0.3")],
  );
});

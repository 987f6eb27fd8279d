/**
 * One definition per message: PROTOCOL.md's message reference and
 * protocol.schema.json are what lib/messages.ts generates, and every
 * message the document quotes is one the schemas take.
 */
import assert from "node:assert/strict";
import { MESSAGES, parseMessage } from "../lib/messages.ts";
import {
  BEGIN,
  END,
  formatted,
  messageReference,
  messagesJsonSchema,
  PROTOCOL_MD,
  SCHEMA_JSON,
  withReference,
} from "../scripts/protocol_schema.ts";

const document = await Deno.readTextFile(PROTOCOL_MD);

Deno.test("PROTOCOL.md's message reference (section 13) is what lib/messages.ts generates: run deno task schema", async () => {
  const expected = await formatted(
    withReference(document, messageReference()),
    "md",
  );
  const section = (text: string) =>
    text.slice(text.indexOf(BEGIN), text.indexOf(END));
  assert.equal(section(document), section(expected));
  assert.equal(document, expected, "and nothing else moved");
});

Deno.test("protocol.schema.json is what lib/messages.ts generates: run deno task schema", async () => {
  const expected = await formatted(
    JSON.stringify(messagesJsonSchema(), null, 2),
    "json",
  );
  assert.equal(await Deno.readTextFile(SCHEMA_JSON), expected);
});

Deno.test("every message type has its row in section 5's table and its part of section 13", () => {
  const table = document.slice(
    document.indexOf("## 5. Messages"),
    document.indexOf("### 5.1"),
  );
  for (const type of Object.keys(MESSAGES)) {
    assert.match(table, new RegExp(`\`${type}\``), type);
    assert.match(document, new RegExp(`### 13\\.\\d+ \`${type}\``), type);
  }
});

Deno.test("every message the document quotes in full is one the schemas take", () => {
  // JSON objects with a known type, on one line: the examples and the flows.
  const quoted = [...document.matchAll(/\{"type":"[a-z-]+"[^\n`]*\}/g)]
    .map((m) => m[0]);
  let checked = 0;
  for (const text of quoted) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      continue; // a shape with placeholders (S, D, U), not a message
    }
    const result = parseMessage(value);
    assert.ok("message" in result, `${text}: ${"why" in result && result.why}`);
    checked++;
  }
  assert.ok(checked >= 5, `only ${checked} quoted messages were found`);
});

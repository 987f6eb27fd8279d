/**
 * PROTOCOL.md's message reference (section 13) and `protocol.schema.json`,
 * generated from the message schemas of lib/messages.ts, so that the
 * document, the types and the validation are one set of facts. Run
 * `deno task schema` after changing a message; tests/protocol_schema_test.ts
 * fails while either file says something else.
 *
 * @module
 */

import { toJsonSchema } from "@valibot/to-json-schema";
import { join } from "node:path";
import { EntrySchema, MESSAGES } from "../lib/messages.ts";

const ROOT = join(import.meta.dirname!, "..");
export const PROTOCOL_MD = join(ROOT, "PROTOCOL.md");
export const SCHEMA_JSON = join(ROOT, "protocol.schema.json");
export const BEGIN =
  "<!-- message reference: generated from lib/messages.ts by `deno task schema`; do not edit -->";
export const END = "<!-- end of the message reference -->";

type Node = Record<string, unknown>;

/** One schema as JSON Schema (draft-07), without its `$schema` line. */
function jsonSchemaOf(schema: Parameters<typeof toJsonSchema>[0]): Node {
  // Checks and transforms are not JSON Schema: their rules are in the descriptions.
  const { $schema: _, ...rest } = toJsonSchema(schema, {
    errorMode: "ignore",
  }) as Node;
  return rest;
}

/** The JSON Schema of every control message, as `protocol.schema.json` holds it. */
export function messagesJsonSchema(): Node {
  const definitions: Record<string, Node> = {};
  for (const [type, schema] of Object.entries(MESSAGES)) {
    definitions[type] = jsonSchemaOf(schema);
  }
  return {
    $schema: "http://json-schema.org/draft-07/schema#",
    title: "pasa protocol v1: control messages",
    description:
      "Every control frame's JSON payload (PROTOCOL.md sections 5 and 13). Generated from lib/messages.ts. Members not listed are ignored by a receiver of the message; rules between members are in the descriptions.",
    oneOf: Object.keys(definitions).map((type) => ({
      $ref: `#/definitions/${type}`,
    })),
    definitions,
  };
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
/** Where the reference describes manifest entries: after every message. */
const ENTRIES_SECTION = `section 13.${Object.keys(MESSAGES).length + 1}`;

/** A value's JSON Schema in words: `integer ≥ 0`, `"sender" or "receiver"`, ... */
function valueOf(node: Node): string {
  if ("const" in node) return `\`${JSON.stringify(node.const)}\``;
  if (Array.isArray(node.enum)) {
    return node.enum.map((x) => `\`${JSON.stringify(x)}\``).join(" or ");
  }
  for (const key of ["anyOf", "oneOf"]) {
    const options = node[key];
    if (Array.isArray(options)) {
      const kinds = options as Node[];
      if (kinds.every((k) => k.type === "object" && "properties" in k)) {
        return `entry (${ENTRIES_SECTION})`;
      }
      return kinds.map(valueOf).join(" or ");
    }
  }
  switch (node.type) {
    case "null":
      return "`null`";
    case "boolean":
      return "boolean";
    case "string":
      return typeof node.pattern === "string"
        ? `string matching \`${node.pattern}\``
        : "string";
    case "integer": {
      const min = node.minimum as number | undefined;
      const max = node.maximum as number | undefined;
      if (max === undefined || max === MAX_SAFE) return `integer ≥ ${min ?? 0}`;
      return `integer ${min ?? 0} to ${max}`;
    }
    case "array": {
      if (Array.isArray(node.items)) {
        return `[${(node.items as Node[]).map(valueOf).join(", ")}]`;
      }
      const item = valueOf(node.items as Node);
      if (item === "string") return "list of strings";
      if (item.startsWith("entry ")) return `list of entries ${item.slice(6)}`;
      return `list of ${item}`;
    }
    case "object": {
      const properties = node.properties as Record<string, Node> | undefined;
      if (!properties) return "object of numbers and booleans";
      const required = new Set(node.required as string[] ?? []);
      return `{${
        Object.entries(properties).map(([name, p]) =>
          `\`${name}\`: ${valueOf(p)}${required.has(name) ? "" : " (optional)"}`
        ).join(", ")
      }}`;
    }
  }
  return "any";
}

/** A message's (or an entry's) members as a Markdown table. */
function membersTable(node: Node): string[] {
  const properties = node.properties as Record<string, Node>;
  const required = new Set(node.required as string[] ?? []);
  const rows = Object.entries(properties).map(([name, p]) =>
    `| \`${name}\` | ${valueOf(p)} | ${required.has(name) ? "yes" : "no"} | ${
      (p.description as string | undefined) ?? ""
    } |`
  );
  return [
    "| member | value | required | meaning |",
    "| --- | --- | --- | --- |",
    ...rows,
  ];
}

/** Section 13 of PROTOCOL.md, between its markers, before formatting. */
export function messageReference(): string {
  const lines = [
    BEGIN,
    "",
    "Generated from the schemas the tool validates every control frame with",
    "(lib/messages.ts); the same facts as JSON Schema (draft-07) are in",
    "`protocol.schema.json`. A member marked not required may be left out;",
    "integers are JSON numbers with no fraction (`1.0` is 1). Rules that tie",
    "members together are in each message's text.",
    "",
  ];
  for (const [type, schema] of Object.entries(MESSAGES)) {
    const node = jsonSchemaOf(schema);
    lines.push(`### 13.${Object.keys(MESSAGES).indexOf(type) + 1} \`${type}\``);
    lines.push("", String(node.description ?? ""), "");
    lines.push(...membersTable(node), "");
  }
  const entries = jsonSchemaOf(EntrySchema).oneOf as Node[];
  lines.push(`### 13.${Object.keys(MESSAGES).length + 1} Manifest entries`, "");
  for (const entry of entries) {
    const kind = (entry.properties as Record<string, Node>).type!.const;
    lines.push(`A \`${kind}\` entry:`, "", ...membersTable(entry), "");
  }
  lines.push(END);
  return lines.join("\n") + "\n";
}

/** Runs `deno fmt` over text, as the repository's files are formatted. */
export async function formatted(text: string, ext: "md" | "json") {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--ext", ext, "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const out = await child.output();
  if (!out.success) {
    throw new Error(`deno fmt failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/** PROTOCOL.md with its message reference replaced by `reference`. */
export function withReference(document: string, reference: string): string {
  const begin = document.indexOf(BEGIN);
  const end = document.indexOf(END);
  if (begin < 0 || end < begin) {
    throw new Error("PROTOCOL.md has no message reference markers");
  }
  return document.slice(0, begin) + reference +
    document.slice(end + END.length).replace(/^\n/, "");
}

if (import.meta.main) {
  const document = await Deno.readTextFile(PROTOCOL_MD);
  await Deno.writeTextFile(
    PROTOCOL_MD,
    await formatted(withReference(document, messageReference()), "md"),
  );
  await Deno.writeTextFile(
    SCHEMA_JSON,
    await formatted(JSON.stringify(messagesJsonSchema(), null, 2), "json"),
  );
}

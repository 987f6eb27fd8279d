import assert from "node:assert/strict";
import { join } from "node:path";
import { FrameReader } from "../lib/frames.ts";
import { exampleSteps, renderExample } from "../scripts/protocol_example.ts";
import { ROOT } from "./helpers.ts";

const doc = await Deno.readTextFile(join(ROOT, "PROTOCOL.md"));

Deno.test("PROTOCOL.md's example session is exactly what the encoders produce", () => {
  const section = doc.slice(doc.indexOf("Example session\n"));
  const block = /```\n([\s\S]*?)\n```/.exec(section)?.[1];
  assert.equal(
    block,
    renderExample(),
    "regenerate with: deno run scripts/protocol_example.ts",
  );
});

Deno.test("the example's sender bytes decode as a valid session", async () => {
  const bytes = exampleSteps().filter(([who]) => who === "S").flatMap((
    [, , b],
  ) => [...b]);
  let fed = false;
  const reader = new FrameReader({
    read(p) {
      if (fed) return Promise.resolve(null);
      fed = true;
      p.set(bytes);
      return Promise.resolve(bytes.length);
    },
  });
  await reader.readExact(8, "preamble");
  assert.equal((await reader.readControl()).type, "hello");
  assert.equal((await reader.readControl()).type, "manifest");
  assert.equal(await reader.readU32("chunk"), 5);
  assert.equal(
    new TextDecoder().decode(await reader.readExact(5, "body")),
    "hola\n",
  );
  assert.equal(await reader.readU32("chunk"), 0);
  assert.equal((await reader.readControl()).type, "file-end");
  assert.equal(await reader.piece(1), null);
});

/**
 * The planted bugs of `deno task mutants` stay plantable: each names the
 * code it changes exactly, and a refactor that moves that code would leave
 * the mutant planting nothing, and the check it stands for untested.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { MUTANTS } from "../scripts/mutants_list.ts";
import { ROOT } from "./helpers.ts";

Deno.test("every planted mutant still finds, once, the code it changes, and names test files that exist", async () => {
  const missing: string[] = [];
  for (const [i, m] of MUTANTS.entries()) {
    const text = await Deno.readTextFile(join(ROOT, m.file));
    const at = text.indexOf(m.from);
    if (at < 0) missing.push(`[${i}] ${m.file}: ${m.from.trim()}`);
    else if (text.indexOf(m.from, at + 1) >= 0) {
      missing.push(`[${i}] ${m.file}: more than once: ${m.from.trim()}`);
    }
    assert.notEqual(m.from, m.to, `[${i}] plants no change`);
    for (const t of m.tests) {
      await Deno.stat(join(ROOT, "tests", t)).catch(() => {
        missing.push(`[${i}] names tests/${t}, which does not exist`);
      });
    }
  }
  assert.deepEqual(missing, [], "update these mutants to the code as it is");
});

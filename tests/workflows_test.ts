import assert from "node:assert/strict";
import { join } from "node:path";
import { parse } from "yaml";
import config from "../deno.json" with { type: "json" };
import { TARGETS } from "../scripts/compile.ts";
import { ROOT } from "./helpers.ts";

type Workflow = {
  on: Record<string, unknown>;
  jobs: Record<
    string,
    {
      "runs-on": string;
      steps: { uses?: string; run?: string }[];
      strategy?: unknown;
    }
  >;
};

async function workflow(name: string): Promise<Workflow> {
  const text = await Deno.readTextFile(
    join(ROOT, ".github", "workflows", name),
  );
  const doc = parse(text, { strict: true, uniqueKeys: true }) as Workflow;
  assert.ok(doc.on && doc.jobs, `${name} needs on: and jobs:`);
  for (const [id, job] of Object.entries(doc.jobs)) {
    assert.ok(job["runs-on"], `${name}: job ${id} needs runs-on`);
    assert.ok(
      Array.isArray(job.steps) && job.steps.length > 0,
      `${name}: job ${id} needs steps`,
    );
    for (const step of job.steps) {
      assert.ok(step.uses || step.run, `${name}: every step uses or runs`);
    }
  }
  return doc;
}

Deno.test("the CI workflow runs the README's test command on Linux, macOS and Windows", async () => {
  const ci = await workflow("ci.yml");
  const job = ci.jobs.test!;
  assert.deepEqual((job.strategy as { matrix: { os: string[] } }).matrix.os, [
    "ubuntu-latest",
    "macos-latest",
    "windows-latest",
  ]);
  assert.ok(job.steps.some((s) => s.run === "npx -y deno@2.9.6 task test"));
  const readme = await Deno.readTextFile(join(ROOT, "README.md"));
  assert.ok(readme.includes("npx -y deno@2.9.6 task test"));
});

Deno.test("the release workflow builds every target on a version tag", async () => {
  const release = await workflow("release.yml");
  assert.deepEqual((release.on.push as { tags: string[] }).tags, ["v*"]);
  const runs = release.jobs.release!.steps.map((s) => s.run ?? "").join("\n");
  assert.match(runs, /deno@2\.9\.6 task compile:all/);
  assert.match(runs, /gh release upload .* dist\/pasa-\*/);
  assert.equal(TARGETS.length, 5);
});

Deno.test("the binary's permissions are the pasa task's, and never all of them", () => {
  const all = Object.values(config.tasks).join(" ");
  assert.doesNotMatch(all, /(^|\s)-A(\s|$)|--allow-all/);
  assert.match(config.tasks.compile, /scripts\/compile\.ts$/);
  assert.match(config.tasks["compile:all"], /scripts\/compile\.ts --all$/);
});

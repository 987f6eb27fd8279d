/**
 * The compiled binary: build it with `scripts/compile.ts`, then run the
 * end-to-end suites (send/receive, --raw, --udp, the CLI) against it, via
 * PASA_BIN. Where Deno's runtime cannot be downloaded (and DENORT_BIN is not
 * set), the test reports itself as skipped with that reason.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { compile, CompileError, NO_RUNTIME } from "../scripts/compile.ts";
import { ROOT } from "./helpers.ts";

const outDir = await Deno.makeTempDir({ prefix: "pasa-binary-" });
let binary: string | undefined;
let reason = "";
try {
  binary = await compile(undefined, outDir, "pasa");
} catch (error) {
  reason = error instanceof CompileError ? error.message : String(error);
  await Deno.remove(outDir, { recursive: true }).catch(() => {});
}

if (binary === undefined && reason === NO_RUNTIME) {
  // The one known reason: Deno's runtime cannot be downloaded here.
  Deno.test({
    name: `binary end-to-end tests (skipped: ${reason})`,
    ignore: true,
    fn() {},
  });
} else if (binary === undefined) {
  Deno.test("the binary builds", () => {
    assert.fail(`The binary did not build: ${reason}`);
  });
} else {
  const built = binary;
  Deno.test("the binary's sum file matches the binary", async () => {
    const { createHash } = await import("node:crypto");
    const [sum, name] = (await Deno.readTextFile(`${built}.sha256`)).trim()
      .split(/\s+/);
    assert.equal(name, built.split(/[\\/]/).at(-1));
    assert.equal(
      sum,
      createHash("sha256").update(await Deno.readFile(built)).digest("hex"),
    );
  });

  Deno.test("the compiled binary passes the end-to-end suites", async () => {
    try {
      const suites = [
        "transfer_test.ts",
        "raw_test.ts",
        "udp_test.ts",
        "cli_test.ts",
      ].map((f) => join(ROOT, "tests", f));
      const run = await new Deno.Command(Deno.execPath(), {
        args: [
          "test",
          "--allow-run",
          "--allow-read",
          "--allow-write",
          "--allow-net",
          "--allow-env",
          "--allow-sys",
          ...suites,
        ],
        env: { PASA_BIN: built, PASA_SKIP_LARGE: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(run.stdout) +
        new TextDecoder().decode(run.stderr);
      assert.equal(run.code, 0, text.slice(-4000));
    } finally {
      await Deno.remove(outDir, { recursive: true }).catch(() => {});
    }
  });
}

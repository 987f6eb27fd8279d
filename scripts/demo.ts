/**
 * `deno task demo`: the main job on one machine. Starts a receiver on
 * loopback, sends testfiles/ to it, checks every received file against
 * testfiles/SHA256SUMS, and prints what happened.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { firstJsonLine, pasaCommand, ROOT } from "./pasa.ts";

const out = await Deno.makeTempDir({ prefix: "pasa-demo-" });
const say = (text: string) =>
  Deno.stdout.writeSync(new TextEncoder().encode(text + "\n"));

async function sha256(path: string): Promise<string> {
  return createHash("sha256").update(await Deno.readFile(path)).digest("hex");
}

let code = 1;
try {
  say(`$ pasa receive --host 127.0.0.1 --port 0 --out ${out} --json`);
  const receiver = pasaCommand([
    "receive",
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--out",
    out,
    "--json",
  ], {
    stderr: "inherit",
    env: { PASA_CODE: "" }, // the receiver makes up its code, as for a user
  }).spawn();
  const { line, rest } = await firstJsonLine(receiver.stdout);
  say(JSON.stringify(line));
  const port = line.port as number;
  // The receiver made up a pairing code; the sender needs it.
  const pairing = line.code as string;

  say(`\n$ pasa send testfiles --to 127.0.0.1:${port} --code ${pairing}`);
  const sender = await pasaCommand([
    "send",
    join(ROOT, "testfiles"),
    "--to",
    `127.0.0.1:${port}`,
    "--code",
    pairing,
  ], {
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  const received = await receiver.status;
  const events = (await rest()).trim().split("\n").map((l) => JSON.parse(l));
  const summary = events.find((e) => e.event === "summary");
  say(
    `\nReceiver's summary event (JSON Lines, for scripts):\n${
      JSON.stringify(summary ?? events.at(-1))
    }`,
  );

  say("\nChecking the received copy against testfiles/SHA256SUMS:");
  const sums = await Deno.readTextFile(join(ROOT, "testfiles", "SHA256SUMS"));
  let bad = 0;
  let checked = 0;
  for (const entry of sums.trim().split("\n")) {
    const [sum, name] = [entry.slice(0, 64), entry.slice(66)];
    const got = await sha256(join(out, "testfiles", name)).catch(() =>
      "missing"
    );
    checked++;
    if (got !== sum) bad++;
    say(`  ${got === sum ? "OK  " : "FAIL"} ${name}`);
  }
  if (sender.code === 0 && received.code === 0 && bad === 0) {
    say(
      `\nDemo passed: ${checked} files sent over TCP, verified by SHA-256 on both ends.`,
    );
    code = 0;
  } else {
    say(
      `\nDemo FAILED: sender exit ${sender.code}, receiver exit ${received.code}, ${bad} files wrong.`,
    );
  }
} finally {
  await Deno.remove(out, { recursive: true }).catch(() => {});
}
Deno.exit(code);

import assert from "node:assert/strict";
import {
  type FileResult,
  fileResult,
  Ledger,
  totalsOf,
  unchangedResult,
} from "../lib/accounting.ts";
import { movedText, renderSummary } from "../lib/report.ts";

const MiB = 1024 * 1024;

function ledger(files: FileResult[], keep = true): Ledger {
  const l = new Ledger(keep);
  for (const f of files) l.add(f);
  return l;
}

Deno.test("a resumed file's rate is over the bytes sent after the kept prefix", () => {
  const f = fileResult("big.bin", 500 * MiB, 324 * MiB, "ab", 1.6);
  assert.equal(f.sentBytes, 176 * MiB);
  assert.equal(f.resumedBytes, 324 * MiB);
  assert.equal(f.bytesPerSecond, (176 * MiB) / 1.6);
});

Deno.test("a skipped file moved nothing and has no rate", () => {
  const f = fileResult("big.bin", 500 * MiB, 500 * MiB, "ab", 0.72);
  assert.deepEqual([f.sentBytes, f.bytesPerSecond], [0, 0]);
});

Deno.test("what was already there is never more than the file, nor less than nothing", () => {
  assert.equal(fileResult("a", 10, 25, "", 1).resumedBytes, 10);
  assert.equal(fileResult("a", 10, -3, "", 1).sentBytes, 10);
});

Deno.test("a transfer's totals add its files, and its rate is over what it sent", () => {
  const t = totalsOf([
    fileResult("a", 100, 100, "", 0.1), // skipped
    fileResult("b", 300, 100, "", 0.5), // resumed
    fileResult("c", 200, 0, "", 0.5),
    unchangedResult("d", 50), // taken by size and time
  ], 2);
  assert.deepEqual(t, {
    bytes: 650,
    resumedBytes: 250,
    unchangedBytes: 50,
    sentBytes: 400,
    seconds: 2,
    bytesPerSecond: 200,
  });
  assert.equal(totalsOf([], 1).bytesPerSecond, 0);
});

Deno.test("the summary says apart what was already there and what was sent", () => {
  const base = { role: "sender" as const, seconds: 1.6 };
  assert.equal(
    movedText({
      ...base,
      ...totalsOf([fileResult("f", 500 * MiB, 324 * MiB, "", 1.6)], 1.6),
    }),
    "500 MiB: 324 MiB already on the receiver, 176 MiB sent in 1.60 s (115.3 MB/s)",
  );
  assert.equal(
    movedText({
      ...base,
      role: "receiver",
      ...totalsOf([fileResult("f", 500 * MiB, 500 * MiB, "", 0.7)], 0.7),
    }),
    "500 MiB, all of it already here (checked with SHA-256), nothing sent, in 0.70 s",
  );
  assert.equal(
    movedText({ ...base, ...totalsOf([fileResult("f", MiB, 0, "", 1)], 2) }),
    "1.0 MiB in 2.00 s (524.3 kB/s)",
  );
});

Deno.test("a ledger that keeps no results still counts and totals every file", () => {
  const files = [
    fileResult("a", 300, 100, "ab", 0.5),
    unchangedResult("b", 50),
  ];
  const kept = ledger(files).summary(2);
  const counted = ledger(files, false).summary(2);
  assert.deepEqual(counted.files, []);
  assert.deepEqual({ ...counted, files: kept.files }, kept);
  assert.deepEqual([counted.fileCount, counted.unchangedFiles], [2, 1]);
});

Deno.test("files taken by size and time are said to be, apart from those checked with SHA-256", () => {
  const sender = { role: "sender" as const, peer: "", dirs: 0, verified: true };
  const all = [unchangedResult("a", 3 * MiB), unchangedResult("b", MiB)];
  const quick = renderSummary({ ...sender, ...ledger(all).summary(0.5) });
  assert.match(
    quick,
    /^Sent 2 files, 4\.0 MiB, all of it already on the receiver \(same size and modification time\), nothing sent, in 0\.50 s; contents not compared \(--check compares them\)/,
  );
  const mixed = [
    ...all,
    fileResult("c", 2 * MiB, 2 * MiB, "ab", 0.1), // skipped, by SHA-256
  ];
  assert.match(
    renderSummary({ ...sender, ...ledger(mixed).summary(0.5) }),
    /all of it already on the receiver \(2\.0 MiB checked with SHA-256, 4\.0 MiB by size and modification time\), nothing sent, in 0\.50 s; 2 files taken for their size and modification time, the others verified with SHA-256 by the receiver/,
  );
  const sent = [...all, fileResult("c", 2 * MiB, 0, "ab", 0.1)];
  assert.match(
    renderSummary({ ...sender, ...ledger(sent).summary(0.5) }),
    /^Sent 3 files, 6\.0 MiB: 4\.0 MiB already on the receiver, 2\.0 MiB sent in 0\.50 s/,
  );
});

Deno.test("a receiver's summary of a measurement says how it was checked and that nothing was kept", () => {
  const base = {
    role: "receiver" as const,
    peer: "",
    dirs: 0,
    measurement: true,
    encrypted: false,
    ...ledger([fileResult("pasa-bench.bin", 8 * MiB, 0, "", 1)]).summary(1),
  };
  const compared = renderSummary({
    ...base,
    verified: true,
    patternChecked: true,
  });
  assert.match(
    compared,
    /^Measured \(pasa bench\), 8\.0 MiB in 1\.00 s \(8\.4 MB\/s\); every byte compared with its generated pattern; nothing kept; NOT encrypted/,
  );
  const lossy = renderSummary({ ...base, verified: false });
  assert.match(
    lossy,
    /--lossy made one pass and lost some% of the data; nothing kept/,
  );
  assert.doesNotMatch(lossy + compared, /\.pasa\.part|Kept/);
});

Deno.test("a progress event's rate is over the bytes that moved since the one before", async () => {
  const { progressEvent } = await import("../lib/progress_events.ts");
  const { TransferState } = await import("../lib/session.ts");
  const state = new TransferState();
  state.setManifest([
    { path: "a", type: "file", size: 100 * MiB },
    { path: "b", type: "file", size: 100 * MiB },
  ]);
  state.beginFile(1, "b", 100 * MiB);
  state.doneBytes = 150 * MiB;
  assert.deepEqual(
    progressEvent(state, { bytes: 140 * MiB, at: 1000 }, 1500),
    {
      files: 2,
      file: 2,
      name: "b",
      bytes: 150 * MiB,
      totalBytes: 200 * MiB,
      bytesPerSecond: 20 * MiB,
    },
  );
});

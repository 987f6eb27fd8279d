import assert from "node:assert/strict";
import { type ProgressSnapshot, renderProgress } from "../lib/progress.ts";

const base: ProgressSnapshot = {
  index: 1,
  files: 3,
  name: "photo.jpg",
  fileBytes: 512 * 1024,
  fileSize: 1024 * 1024,
  doneBytes: 3 * 1024 * 1024,
  totalBytes: 4 * 1024 * 1024,
  rate: 2e6,
};

Deno.test("renderProgress() shows file count, file and total percent, bytes, rate and ETA", () => {
  assert.equal(
    renderProgress(base, 80),
    "[2/3] photo.jpg 50% [████████████░░░░░] 75% 3.0 MiB/4.0 MiB 2.0 MB/s ETA 0.52 s",
  );
});

Deno.test("renderProgress() gives up the bar, not the numbers, on a narrow terminal", () => {
  assert.equal(
    renderProgress(base, 60),
    "[2/3] photo.jpg 50% 75% 3.0 MiB/4.0 MiB 2.0 MB/s ETA 0.52 s",
  );
});

Deno.test("renderProgress() never exceeds the width", () => {
  for (const width of [20, 33, 47, 80, 200]) {
    const line = renderProgress({
      ...base,
      name: "a-very-long-file-name-".repeat(5),
    }, width);
    assert.ok([...line].length <= width, `${width}: ${line}`);
  }
});

Deno.test("renderProgress() without a known total shows bytes and rate only", () => {
  const s = {
    ...base,
    files: 1,
    index: 0,
    name: "-",
    fileSize: null,
    totalBytes: null,
    fileBytes: 5e6,
    doneBytes: 5e6,
  };
  assert.equal(renderProgress(s, 80), "- 4.8 MiB 2.0 MB/s");
});

Deno.test("renderProgress() of an empty transfer is 100%, not NaN", () => {
  const s = {
    ...base,
    files: 1,
    index: 0,
    fileBytes: 0,
    fileSize: 0,
    doneBytes: 0,
    totalBytes: 0,
    rate: 0,
  };
  const line = renderProgress(s, 80);
  assert.doesNotMatch(line, /NaN|Infinity/);
  assert.match(line, /100%.*ETA --/);
});

Deno.test("renderProgress() escapes a hostile name", () => {
  const line = renderProgress(
    { ...base, name: "evil\u001b]0;pwned\u0007" },
    100,
  );
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(line, /\u001b/);
});

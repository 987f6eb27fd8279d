import assert from "node:assert/strict";
import type { BenchResult, ModeResult } from "../lib/bench.ts";
import {
  benchCsv,
  benchJson,
  renderBenchSvg,
  renderBenchTable,
  renderInterval,
  sparkline,
  summarizeRuns,
} from "../lib/bench_report.ts";

function run(overrides: Partial<ModeResult>): ModeResult {
  return {
    mode: "tcp",
    offeredRate: null,
    round: null,
    streams: 1,
    bytes: 256 * 1024 * 1024,
    seconds: 0.5,
    setupSeconds: 0.1,
    bytesPerSecond: 536_870_912,
    bitsPerSecond: 4_294_967_296,
    sentBitsPerSecond: null,
    reachedOffered: null,
    localCpuPercent: 40,
    firstPassLossPercent: null,
    outOfOrder: null,
    retransmittedBytes: null,
    jitterMs: null,
    kernelDrops: null,
    tcpRetransmits: null,
    verified: true,
    check: "pattern",
    intervals: [{
      start: 0,
      end: 0.5,
      bytes: 256 * 1024 * 1024,
      bitsPerSecond: 4_294_967_296,
    }],
    ...overrides,
  };
}

const fixed: BenchResult = {
  start: {
    version: "0.1.0",
    timestamp: "2026-11-24T12:00:00.000Z",
    target: "127.0.0.1:9000",
    embedded: true,
    reverse: false,
    encrypted: true,
    payload: "memory",
    file: null,
    size: 256 * 1024 * 1024,
    durationSeconds: null,
    intervalSeconds: 1,
    datagramSize: 1472,
    slotsPerDatagram: 22,
    linkBitsPerSecond: null,
  },
  modes: [
    run({}),
    run({
      mode: "udp",
      seconds: 2,
      bytesPerSecond: 134_217_728,
      bitsPerSecond: 1_073_741_824,
      firstPassLossPercent: 4.5,
      outOfOrder: 3,
      retransmittedBytes: 12 * 1024 * 1024,
      intervals: [
        { start: 0, end: 1, bytes: 100e6, bitsPerSecond: 800e6 },
        { start: 1, end: 2, bytes: 150e6, bitsPerSecond: 1200e6 },
      ],
    }),
    run({
      mode: "udp-lossy",
      verified: false,
      firstPassLossPercent: 2,
      outOfOrder: 0,
      retransmittedBytes: 0,
    }),
  ],
  sweep: [
    run({
      mode: "udp-lossy",
      offeredRate: 1e8,
      verified: false,
      firstPassLossPercent: 0,
      bitsPerSecond: 1e8,
      sentBitsPerSecond: 1.02e8,
      reachedOffered: true,
    }),
    run({
      mode: "udp-lossy",
      offeredRate: 1e9,
      verified: false,
      firstPassLossPercent: 7.25,
      bitsPerSecond: 5.2e8,
      sentBitsPerSecond: 5.6e8,
      reachedOffered: false,
      localCpuPercent: 99,
    }),
  ],
};

Deno.test("sparkline() scales to the highest value and survives odd input", () => {
  assert.equal(sparkline([1, 2, 3, 4, 8]), "▁▂▃▄█");
  assert.equal(sparkline([5, 5]), "██");
  assert.equal(sparkline([0, 0]), "▁▁");
  assert.equal(sparkline([NaN, Infinity, 4]), "▁▁█");
  assert.equal(sparkline([]), "-");
});

Deno.test("renderInterval() reads like iperf3's interval lines", () => {
  assert.equal(
    renderInterval("udp", {
      start: 1,
      end: 2,
      bytes: 150 * 1024 * 1024,
      bitsPerSecond: 1.2e9,
    }),
    "[udp] 1.00-2.00 s      150 MiB  1.20 Gbit/s\n",
  );
});

Deno.test("renderBenchTable() lays out every run with its figures", () => {
  assert.equal(
    renderBenchTable(fixed),
    [
      "pasa bench against 127.0.0.1:9000 (embedded receiver on loopback), encrypted; payload generated in memory, compared byte for byte where it landed (no SHA-256): this measures the network path",
      "mode                   bytes  seconds   MB/s  Mbit/s  sent Mbit/s  loss %  out of order  retransmitted   verified  intervals",
      "tcp                  256 MiB     0.50  536.9    4295            -       -             -              -        yes  █",
      "udp                  256 MiB     2.00  134.2    1074            -    4.50             3       12.0 MiB        yes  ▆█",
      "udp --lossy          256 MiB     0.50  536.9    4295            -    2.00             0            0 B  no: lossy  █",
      "udp --lossy @ 100M   256 MiB     0.50  536.9     100          102    0.00             -              -  no: lossy  █",
      "udp --lossy @ 1000M  256 MiB     0.50  536.9     520          560    7.25             -              -  no: lossy  █",
      "MB/s, Mbit/s: goodput, the payload delivered over the data's time (not connecting or pairing); sent: what the UDP sender put on the wire, headers and resends included",
      "udp --lossy @ 1000M: offered 1000 Mbit/s, but the sender sent only 560: it could not send faster (its CPU, or its socket once the first link's queue is full); the chart plots what was sent",
      "",
    ].join("\n"),
  );
});

Deno.test("renderBenchTable() names a failed run and why", () => {
  const failed = {
    ...fixed,
    modes: [run({ mode: "udp", verified: false, error: "Cannot connect" })],
    sweep: [],
  };
  const text = renderBenchTable(failed);
  assert.match(text, /FAILED/);
  assert.match(text, /udp failed: Cannot connect/);
});

Deno.test("benchJson() has start, intervals and end, and never NaN", () => {
  const broken = {
    ...fixed,
    modes: [run({ seconds: NaN, bitsPerSecond: Infinity })],
  };
  const doc = benchJson(broken) as {
    start: { target: string };
    intervals: { mode: string }[];
    end: { modes: Record<string, unknown>[]; sweep: unknown[]; ok: boolean };
  };
  assert.equal(doc.start.target, "127.0.0.1:9000");
  assert.deepEqual(doc.intervals.map((i) => i.mode), [
    "tcp",
    "udp --lossy @ 100M",
    "udp --lossy @ 1000M",
  ]);
  assert.equal(doc.end.modes[0]!.seconds, null);
  assert.equal(doc.end.modes[0]!.bitsPerSecond, null);
  assert.equal(
    doc.end.modes[0]!.intervals,
    undefined,
    "intervals live in their own section",
  );
  assert.equal(doc.end.sweep.length, 2);
  assert.equal(doc.end.ok, true);
  assert.doesNotMatch(JSON.stringify(doc), /NaN|Infinity/);
});

/** Checks that every tag closes in order: enough to call the SVG well-formed XML. */
function assertWellFormed(xml: string): void {
  const stack: string[] = [];
  for (const m of xml.matchAll(/<(\/?)([a-zA-Z][\w:-]*)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = m;
    if (selfClosing) continue;
    if (closing) {
      assert.equal(stack.pop(), name, `</${name}> closes the wrong tag`);
    } else stack.push(name!);
  }
  assert.deepEqual(stack, [], "every tag is closed");
  assert.doesNotMatch(
    xml.replace(/&(amp|lt|gt|quot);/g, ""),
    /&/,
    "no stray ampersand",
  );
}

Deno.test("renderBenchSvg() is well-formed with one series per run and the sweep's two", () => {
  const svg = renderBenchSvg(fixed);
  assert.ok(
    svg.startsWith(
      '<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg"',
    ),
  );
  assertWellFormed(svg);
  const series = [...svg.matchAll(/class="series" data-series="([^"]+)"/g)].map(
    (m) => m[1],
  );
  assert.deepEqual(series, [
    "tcp: 4295 Mbit/s",
    "udp: 1074 Mbit/s",
    "udp --lossy: 4295 Mbit/s",
    "goodput",
    "loss %",
  ]);
  assert.match(svg, /Throughput over time/);
  assert.match(svg, /goodput against the rate sent/);
  // A point sits where the sender really was, labelled with what it was asked.
  const goodput = /data-series="goodput" d="M([\d.]+),[\d.]+ L([\d.]+),/.exec(
    svg,
  )!;
  // Pixels from the panel's left edge, at x = 80.
  const [x100, x1000] = [Number(goodput[1]) - 80, Number(goodput[2]) - 80];
  assert.ok(
    x1000 / x100 > 5 && x1000 / x100 < 6,
    `x at 560 and 102 Mbit/s sent, not 1000 and 100 offered: ${x100} ${x1000}`,
  );
  assert.match(svg, /offered 1000M \(not reached\)/);
  assert.match(svg, /class="reference"/);
  assert.match(
    svg,
    /2026-11-24 12:00:00 UTC; to 127.0.0.1:9000 \(embedded, loopback\); encrypted</,
  );
  assert.match(
    svg,
    />payload from memory, compared byte for byte \(no SHA-256\); UDP 1472-byte slots, up to 22 a datagram/,
  );
  assert.doesNotMatch(svg, /NaN/);
});

Deno.test("renderBenchSvg() without a sweep draws only the time panel", () => {
  const svg = renderBenchSvg({ ...fixed, sweep: [] });
  assertWellFormed(svg);
  assert.equal([...svg.matchAll(/class="series"/g)].length, 3);
  assert.doesNotMatch(svg, /rate sent/);
});

Deno.test("renderBenchTable() warns when a TCP run kept this side's CPU busy", () => {
  const table = (localCpuPercent: number) =>
    renderBenchTable({
      ...fixed,
      modes: [run({ localCpuPercent })],
      sweep: [],
    });
  assert.match(
    table(96),
    /tcp: this side's CPU was busy 96% of the run: its figure may be this machine's limit/,
  );
  assert.doesNotMatch(table(60), /CPU was busy/);
});

Deno.test("renderBenchTable() says what the kernel counted, and tells socket drops from link loss", () => {
  const table = (overrides: Partial<ModeResult>) =>
    renderBenchTable({ ...fixed, modes: [run(overrides)], sweep: [] });
  assert.match(
    table({ tcpRetransmits: 12 }),
    /the kernel counted, during each run, for the whole host \(Linux \/proc\/net\/snmp\): tcp 12 TCP segments sent again\n/,
  );
  assert.match(
    table({ mode: "udp", kernelDrops: 340, firstPassLossPercent: 1.5 }),
    /udp 340 UDP datagrams dropped at the receiver's full socket buffers \(a datagram dropped at a socket is loss at the receiver, not on the link\)/,
  );
  assert.doesNotMatch(
    table({ mode: "udp", kernelDrops: 0, firstPassLossPercent: 1.5 }),
    /not on the link/,
  );
  assert.doesNotMatch(table({}), /kernel counted/, "null: nothing said");
});

Deno.test("--link puts the link's rate on the chart and each run's share of it in the table", () => {
  const onLink: BenchResult = {
    ...fixed,
    start: { ...fixed.start, linkBitsPerSecond: 1e9 },
    modes: [run({ bitsPerSecond: 940e6 })],
    sweep: [],
  };
  assert.match(
    renderBenchTable(onLink),
    /of the 1.00 Gbit\/s link \(--link, as given\): tcp 94%\n/,
  );
  const svg = renderBenchSvg(onLink);
  assertWellFormed(svg);
  assert.match(svg, /class="reference"[^>]*stroke-dasharray="8 3"/);
  assert.match(svg, /link 1.00 Gbit\/s \(--link\)/);
  assert.match(
    renderBenchTable({ ...onLink, modes: [run({ bitsPerSecond: 2e9 })] }),
    /tcp 200%; above 100%: the link is faster than --link says/,
  );
  assert.doesNotMatch(renderBenchTable(fixed), /--link/);
  assert.doesNotMatch(
    renderBenchSvg({ ...fixed, sweep: [] }),
    /class="reference"/,
  );
});

Deno.test("benchCsv() has a header and a row per run, numbers plain, text quoted where it must be", () => {
  const csv = benchCsv({
    ...fixed,
    modes: [run({ error: 'refused, "busy"' })],
  });
  const [header, ...rows] = csv.trimEnd().split("\n");
  assert.ok(header!.startsWith("label,mode,round,offered_bps,bytes,seconds,"));
  assert.equal(rows.length, 1 + fixed.sweep.length);
  assert.ok(rows[0]!.startsWith("tcp,tcp,,,268435456,0.5,0.1,4294967296,,"));
  assert.ok(rows[0]!.endsWith(',"refused, ""busy"""'));
  assert.ok(
    rows[2]!.startsWith(
      "udp --lossy @ 1000M,udp-lossy,,1000000000,268435456,0.5,0.1,520000000,560000000,false,",
    ),
  );
  assert.doesNotMatch(csv, /NaN|undefined|null/);
});

Deno.test("summarizeRuns() gives each kind's mean, sample deviation and range over the rounds that finished", () => {
  const rounds = [1, 2, 3].map((round) =>
    run({ round, bitsPerSecond: [900e6, 950e6, 1000e6][round - 1]! })
  );
  const failed = run({ round: 4, bitsPerSecond: 0, error: "cut" });
  const [tcp] = summarizeRuns({
    ...fixed,
    modes: [...rounds, failed],
    sweep: [],
  });
  assert.deepEqual(tcp, {
    label: "tcp",
    runs: 3,
    meanBitsPerSecond: 950e6,
    stddevBitsPerSecond: 50e6,
    minBitsPerSecond: 900e6,
    maxBitsPerSecond: 1000e6,
  });
  assert.deepEqual(summarizeRuns(fixed), [], "nothing to sum over one round");
  assert.match(
    renderBenchTable({ ...fixed, modes: rounds, sweep: [] }),
    /tcp #2 .*\ntcp #3 [^]*tcp: goodput over 3 runs: mean 950 Mbit\/s, standard deviation 50, from 900 to 1000/,
  );
});

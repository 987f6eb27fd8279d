/**
 * Rendering a {@link BenchResult}: a terminal table with sparklines, a JSON
 * document (start, intervals, end, after iperf3's `-J`), and an SVG chart
 * for lab reports. Pure functions of the data.
 *
 * @module
 */

import {
  type BenchResult,
  type Interval,
  modeLabel,
  type ModeResult,
} from "./bench.ts";
import { formatBits } from "./udp.ts";
import { formatBytes } from "./units.ts";
import type { CryptoCosts } from "./crypto_costs.ts";

const BARS = "▁▂▃▄▅▆▇█";

/** A one-line chart of `values`, lowest to highest bar; `-` for none. */
export function sparkline(values: readonly number[]): string {
  const finite = values.map((v) => (Number.isFinite(v) && v > 0 ? v : 0));
  if (finite.length === 0) return "-";
  const max = Math.max(...finite);
  if (max === 0) return BARS[0]!.repeat(finite.length);
  return finite.map((v) => BARS[Math.min(7, Math.floor((v / max) * 7.999))]!)
    .join("");
}

/** One interval report line, as iperf3 prints them while it runs. */
export function renderInterval(label: string, iv: Interval): string {
  const span = `${iv.start.toFixed(2)}-${iv.end.toFixed(2)} s`;
  return `[${label}] ${span.padEnd(14)} ${formatBytes(iv.bytes).padStart(9)}  ${
    formatBits(iv.bitsPerSecond)
  }\n`;
}

function cell(value: number | null, digits: number): string {
  return value === null || !Number.isFinite(value)
    ? "-"
    : value.toFixed(digits);
}

function verdict(r: ModeResult): string {
  if (r.error) return "FAILED";
  if (r.verified) return "yes";
  return r.mode === "udp-lossy" ? "no: lossy" : "no";
}

/**
 * Whether a TCP run kept this process's CPU busy enough to be its limit.
 * Not said of UDP: its pacer waits under 2 ms by yielding, not sleeping, so
 * a UDP sender's CPU is busy whatever limits it.
 */
function cpuBound(r: ModeResult): boolean {
  return r.mode === "tcp" && (r.localCpuPercent ?? 0) >= 90;
}

/** What the kernel counted during a run, where Linux told it (host-wide). */
function kernelText(r: ModeResult): string | undefined {
  if (r.kernelDrops !== null) {
    return `${
      modeLabel(r)
    } ${r.kernelDrops} UDP datagrams dropped at the receiver's full socket buffers`;
  }
  if (r.tcpRetransmits !== null) {
    return `${modeLabel(r)} ${r.tcpRetransmits} TCP segments sent again`;
  }
  return undefined;
}

/** The results table, one row per run. */
export function renderBenchTable(result: BenchResult): string {
  const head = [
    "mode",
    "bytes",
    "seconds",
    "MB/s",
    "Mbit/s",
    "sent Mbit/s",
    "loss %",
    "out of order",
    "retransmitted",
    "verified",
    "intervals",
  ];
  const rows = [...result.modes, ...result.sweep].map((r) => [
    modeLabel(r),
    formatBytes(r.bytes),
    r.seconds.toFixed(2),
    (r.bytesPerSecond / 1e6).toFixed(1),
    (r.bitsPerSecond / 1e6).toFixed(0),
    r.sentBitsPerSecond === null ? "-" : (r.sentBitsPerSecond / 1e6).toFixed(0),
    cell(r.firstPassLossPercent, 2),
    r.outOfOrder === null ? "-" : String(r.outOfOrder),
    r.retransmittedBytes === null ? "-" : formatBytes(r.retransmittedBytes),
    verdict(r),
    sparkline(r.intervals.map((i) => i.bitsPerSecond)),
  ]);
  const widths = head.map((h, i) =>
    Math.max(h.length, ...rows.map((row) => [...row[i]!].length))
  );
  const line = (cells: string[]) =>
    cells.map((
      c,
      i,
    ) => (i === 0 || i === cells.length - 1
      ? c.padEnd(widths[i]!)
      : c.padStart(widths[i]!))
    )
      .join("  ").trimEnd();
  const s = result.start;
  const checks = [...result.modes, ...result.sweep].map((r) => r.check);
  const payload = s.payload === "memory"
    ? `payload generated in memory${
      checks.includes("sha256")
        ? ", checked with SHA-256 (the receiver cannot compare it)"
        : ", compared byte for byte where it landed (no SHA-256)"
    }: this measures the network path`
    : `payload read from ${s.file}, checked with SHA-256: this measures the whole path, disk included`;
  const errors = [...result.modes, ...result.sweep].filter((r) => r.error)
    .map((r) => `${modeLabel(r)} failed: ${r.error}`);
  const short = result.sweep.filter((r) => r.reachedOffered === false).map(
    (r) =>
      `${modeLabel(r)}: offered ${
        ((r.offeredRate ?? 0) / 1e6).toFixed(0)
      } Mbit/s, but the sender sent only ${
        ((r.sentBitsPerSecond ?? 0) / 1e6).toFixed(0)
      }: it could not send faster (its CPU, or its socket once the first link's queue is full); the chart plots what was sent`,
  );
  const bound = [...result.modes, ...result.sweep].filter((r) =>
    !r.error && cpuBound(r)
  ).map((r) =>
    `${
      modeLabel(r)
    }: this side's CPU was busy ${r.localCpuPercent}% of the run: its figure may be this machine's limit, not the network's`
  );
  const counted = [...result.modes, ...result.sweep].filter((r) => !r.error)
    .flatMap((r) => kernelText(r) ?? []);
  const kernel = counted.length === 0 ? [] : [
    `the kernel counted, during each run, for the whole host (Linux /proc/net/snmp): ${
      counted.join("; ")
    }${
      [...result.modes, ...result.sweep].some((r) => (r.kernelDrops ?? 0) > 0)
        ? " (a datagram dropped at a socket is loss at the receiver, not on the link)"
        : ""
    }`,
  ];
  const link = s.linkBitsPerSecond;
  const shares = link === null ? [] : [
    `of the ${formatBits(link)} link (--link, as given): ` +
    [...result.modes, ...result.sweep].filter((r) => !r.error).map((r) =>
      `${modeLabel(r)} ${Math.round((r.bitsPerSecond / link) * 100)}%`
    ).join(", ") +
    ([...result.modes, ...result.sweep].some((r) => r.bitsPerSecond > link)
      ? "; above 100%: the link is faster than --link says, or the path avoids it"
      : ""),
  ];
  return [
    `pasa bench against ${s.target}${
      s.embedded ? " (embedded receiver on loopback)" : ""
    }${s.reverse ? ", reversed: the receiver sends" : ""}, ${
      s.encrypted ? "encrypted" : "not encrypted"
    }; ${payload}`,
    line(head),
    ...rows.map(line),
    "MB/s, Mbit/s: goodput, the payload delivered over the data's time (not connecting or pairing); sent: what the UDP sender put on the wire, headers and resends included",
    ...kernel,
    ...shares,
    ...summaryLines(result),
    ...short,
    ...bound,
    ...(result.cost ? [costLine(result.cost)] : []),
    ...errors,
  ].join("\n") + "\n";
}

/**
 * What checking and encrypting cost on this machine, apart from the network
 * figures: each primitive's rate on one core, and what a transfer doing
 * both on each end (as `pasa send` does) could move per core at most.
 */
export function costLine(cost: CryptoCosts): string {
  const gib = 2 ** 30;
  const rateOf = (seconds: number) =>
    `${(gib / seconds / 1e9).toFixed(2)} GB/s (${
      (gib * 8 / seconds / 1e9).toFixed(1)
    } Gbit/s)`;
  return `cost here, one core, not in the figures above: SHA-256 ${
    rateOf(cost.sha256)
  }, ChaCha20-Poly1305 ${
    rateOf(cost.chacha20poly1305)
  }; both, as each end of an encrypted transfer does them: at most ${
    rateOf(cost.sha256 + cost.chacha20poly1305)
  }`;
}

/** Goodput of one kind of run over its rounds (`--runs`), in bit/s. */
export interface RunSummary {
  label: string;
  /** Rounds that finished without an error (the figures are over those). */
  runs: number;
  meanBitsPerSecond: number;
  /** Sample standard deviation (n - 1); 0 for one run. */
  stddevBitsPerSecond: number;
  minBitsPerSecond: number;
  maxBitsPerSecond: number;
}

/** Mean, spread and range of each kind of run over its rounds; empty for one round. */
export function summarizeRuns(result: BenchResult): RunSummary[] {
  const runs = [...result.modes, ...result.sweep];
  if (!runs.some((r) => r.round !== null)) return [];
  const groups = new Map<string, number[]>();
  for (const r of runs) {
    const label = modeLabel({ ...r, round: null });
    if (!groups.has(label)) groups.set(label, []);
    if (!r.error) groups.get(label)!.push(r.bitsPerSecond);
  }
  return [...groups].map(([label, xs]) => {
    const n = xs.length;
    const mean = n ? xs.reduce((a, b) => a + b, 0) / n : 0;
    const variance = n > 1
      ? xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1)
      : 0;
    return {
      label,
      runs: n,
      meanBitsPerSecond: mean,
      stddevBitsPerSecond: Math.sqrt(variance),
      minBitsPerSecond: n ? Math.min(...xs) : 0,
      maxBitsPerSecond: n ? Math.max(...xs) : 0,
    };
  });
}

function summaryLines(result: BenchResult): string[] {
  const m = (bps: number) => (bps / 1e6).toFixed(0);
  return summarizeRuns(result).map((s) =>
    `${s.label}: goodput over ${s.runs} runs: mean ${
      m(s.meanBitsPerSecond)
    } Mbit/s, standard deviation ${m(s.stddevBitsPerSecond)}, from ${
      m(s.minBitsPerSecond)
    } to ${m(s.maxBitsPerSecond)}`
  );
}

/** The columns of `--csv`, one row per run: plain numbers, bit/s and bytes. */
const CSV_COLUMNS = [
  "label",
  "mode",
  "round",
  "offered_bps",
  "bytes",
  "seconds",
  "setup_seconds",
  "goodput_bps",
  "sent_bps",
  "reached_offered",
  "loss_percent",
  "out_of_order",
  "retransmitted_bytes",
  "jitter_ms",
  "kernel_drops",
  "tcp_retransmits",
  "local_cpu_percent",
  "check",
  "verified",
  "encrypted",
  "target",
  "timestamp",
  "error",
] as const;

function csvCell(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") {
    return Number.isFinite(value) ? String(value) : "";
  }
  const text = String(value);
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** `--csv`: a header, then one row per run, for a spreadsheet or a plot. */
export function benchCsv(result: BenchResult): string {
  const s = result.start;
  const rows = [...result.modes, ...result.sweep].map((r) =>
    [
      modeLabel(r),
      r.mode,
      r.round,
      r.offeredRate,
      r.bytes,
      r.seconds,
      r.setupSeconds,
      r.bitsPerSecond,
      r.sentBitsPerSecond,
      r.reachedOffered,
      r.firstPassLossPercent,
      r.outOfOrder,
      r.retransmittedBytes,
      r.jitterMs,
      r.kernelDrops,
      r.tcpRetransmits,
      r.localCpuPercent,
      r.check,
      r.verified,
      s.encrypted,
      s.target,
      s.timestamp,
      r.error,
    ].map(csvCell).join(",")
  );
  return [CSV_COLUMNS.join(","), ...rows].join("\n") + "\n";
}

/** Numbers JSON can hold: NaN and infinities become null. */
function finite<T>(value: T): T {
  return JSON.parse(
    JSON.stringify(
      value,
      (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v),
    ),
  );
}

/** The JSON document of `--json`: start, intervals and end sections. */
export function benchJson(result: BenchResult): Record<string, unknown> {
  const runs = [...result.modes, ...result.sweep];
  return finite({
    start: result.start,
    intervals: runs.flatMap((r) =>
      r.intervals.map((i) => ({ mode: modeLabel(r), ...i }))
    ),
    end: {
      modes: result.modes.map(({ intervals: _, ...r }) => ({
        label: modeLabel(r),
        ...r,
      })),
      sweep: result.sweep.map(({ intervals: _, ...r }) => ({
        label: modeLabel(r),
        ...r,
      })),
      ok: runs.every((r) => !r.error),
      summary: summarizeRuns(result),
      ...(result.cost
        ? {
          cost: {
            sha256SecondsPerGiB: result.cost.sha256,
            chacha20poly1305SecondsPerGiB: result.cost.chacha20poly1305,
          },
        }
        : {}),
    },
  });
}

const COLORS = [
  "#1f77b4",
  "#d62728",
  "#2ca02c",
  "#9467bd",
  "#ff7f0e",
  "#8c564b",
  "#e377c2",
  "#17becf",
];

function esc(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

/** Round numbers for axis ticks: 0, then `n` steps up to a nice maximum. */
function ticks(max: number, n = 4): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  return Array.from({ length: Math.ceil(max / step) + 1 }, (_, i) => i * step);
}

interface Panel {
  title: string;
  xLabel: string;
  yLabel: string;
  series: {
    name: string;
    points: [number, number][];
    dashed?: boolean;
    /** A label beside each point. */
    labels?: string[];
  }[];
  yMax?: number;
  /** Draw y = x (what was sent, all of it delivered), on a common scale. */
  identity?: boolean;
  /** A horizontal line at this y, labelled: the link's rate. */
  reference?: { y: number; label: string };
}

function panel(p: Panel, x0: number, y0: number, w: number, h: number): string {
  const all = p.series.flatMap((s) => s.points);
  const ref = p.reference?.y ?? 0;
  const top = Math.max(1e-9, ref, ...all.map(([x, y]) => Math.max(x, y)));
  const xs = ticks(p.identity ? top : Math.max(1e-9, ...all.map(([x]) => x)));
  const ys = ticks(
    p.identity ? top : p.yMax ?? Math.max(1e-9, ref, ...all.map(([, y]) => y)),
  );
  const xMax = xs.at(-1)!;
  const yMax = ys.at(-1)!;
  const px = (x: number) => x0 + (x / xMax) * w;
  const py = (y: number) => y0 + h - (y / yMax) * h;
  const out: string[] = [
    `<text x="${x0 + w / 2}" y="${
      y0 - 12
    }" text-anchor="middle" font-size="15" font-weight="bold">${
      esc(p.title)
    }</text>`,
    `<rect x="${x0}" y="${y0}" width="${w}" height="${h}" fill="none" stroke="#444"/>`,
  ];
  for (const t of ys) {
    out.push(
      `<line x1="${x0}" x2="${x0 + w}" y1="${py(t)}" y2="${
        py(t)
      }" stroke="#ddd"/>`,
    );
    out.push(
      `<text x="${x0 - 6}" y="${
        py(t) + 4
      }" text-anchor="end" font-size="11">${+t.toPrecision(4)}</text>`,
    );
  }
  for (const t of xs) {
    out.push(
      `<text x="${px(t)}" y="${
        y0 + h + 16
      }" text-anchor="middle" font-size="11">${+t.toPrecision(4)}</text>`,
    );
  }
  out.push(
    `<text x="${x0 + w / 2}" y="${
      y0 + h + 34
    }" text-anchor="middle" font-size="12">${esc(p.xLabel)}</text>`,
  );
  out.push(
    `<text x="${x0 - 46}" y="${
      y0 + h / 2
    }" text-anchor="middle" font-size="12" transform="rotate(-90 ${x0 - 46} ${
      y0 + h / 2
    })">${esc(p.yLabel)}</text>`,
  );
  if (p.identity) {
    const end = Math.min(xMax, yMax);
    out.push(
      `<line class="reference" x1="${px(0)}" y1="${py(0)}" x2="${
        px(end).toFixed(1)
      }" y2="${py(end).toFixed(1)}" stroke="#999" stroke-dasharray="4 4"/>`,
      `<text x="${px(end * 0.5).toFixed(1)}" y="${
        (py(end * 0.5) - 8).toFixed(1)
      }" text-anchor="end" font-size="11" fill="#666">y = x: all delivered</text>`,
    );
  }
  if (p.reference) {
    const at = py(p.reference.y).toFixed(1);
    out.push(
      `<line class="reference" x1="${x0}" y1="${at}" x2="${
        x0 + w
      }" y2="${at}" stroke="#555" stroke-dasharray="8 3"/>`,
      `<text x="${x0 + w - 4}" y="${
        (Number(at) - 5).toFixed(1)
      }" text-anchor="end" font-size="11" fill="#444">${
        esc(p.reference.label)
      }</text>`,
    );
  }
  p.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    // Points are numbered; the numbers are explained beside the panel,
    // where they cannot overprint each other.
    s.labels?.forEach((label, k) => {
      const [x, y] = s.points[k] ?? [0, 0];
      out.push(
        `<text x="${(px(x) - 4).toFixed(1)}" y="${
          (py(y) + (k % 2 === 0 ? 16 : -7)).toFixed(1)
        }" font-size="10" fill="#444">${k + 1}</text>`,
        `<text x="${x0 + w + 16}" y="${
          y0 + 44 + i * 20 + k * 15
        }" font-size="11" fill="#444">${k + 1}: ${esc(label)}</text>`,
      );
    });
    const d = s.points.map(([x, y], k) =>
      `${k === 0 ? "M" : "L"}${px(x).toFixed(1)},${py(y).toFixed(1)}`
    ).join(" ");
    out.push(
      `<path class="series" data-series="${esc(s.name)}" d="${
        d || `M${x0},${y0 + h}`
      }" fill="none" stroke="${color}" stroke-width="2"${
        s.dashed ? ' stroke-dasharray="6 4"' : ""
      }/>`,
    );
    for (const [x, y] of s.points) {
      out.push(
        `<circle cx="${px(x).toFixed(1)}" cy="${
          py(y).toFixed(1)
        }" r="2.5" fill="${color}"/>`,
      );
    }
    out.push(
      `<rect x="${x0 + w + 16}" y="${
        y0 + 8 + i * 20
      }" width="14" height="4" fill="${color}"/>`,
    );
    out.push(
      `<text x="${x0 + w + 36}" y="${y0 + 14 + i * 20}" font-size="12">${
        esc(s.name)
      }</text>`,
    );
  });
  return out.join("\n");
}

/** The run's settings, two lines for the chart's head: a figure is read with them. */
export function settingsText(result: BenchResult): [string, string] {
  const s = result.start;
  const checks = [...result.modes, ...result.sweep].map((r) => r.check);
  const check = checks.includes("sha256")
    ? "checked with SHA-256"
    : "compared byte for byte (no SHA-256)";
  return [
    [
      `pasa ${s.version}, ${
        s.timestamp.replace("T", " ").replace(/\.\d+Z$/, " UTC")
      }`,
      `to ${s.target}${s.embedded ? " (embedded, loopback)" : ""}${
        s.reverse ? ", reversed: the receiver sends" : ""
      }`,
      s.encrypted ? "encrypted" : "not encrypted",
    ].join("; "),
    [
      `${
        s.payload === "memory"
          ? "payload from memory"
          : `payload from ${s.file}`
      }, ${check}`,
      `UDP ${s.datagramSize}-byte slots, up to ${s.slotsPerDatagram} a datagram (--lossy: 1)`,
      `rates over the data's time`,
    ].join("; "),
  ];
}

function settingsLine(result: BenchResult): string {
  const [first, second] = settingsText(result);
  return `<text x="20" y="24" font-size="12" fill="#333">${
    esc(first)
  }</text>\n<text x="20" y="42" font-size="12" fill="#333">${
    esc(second)
  }</text>`;
}

/** The link's rate as a reference line, when `--link` gave it. */
function linkReference(
  result: BenchResult,
): { reference?: { y: number; label: string } } {
  const link = result.start.linkBitsPerSecond;
  return link === null ? {} : {
    reference: { y: link / 1e6, label: `link ${formatBits(link)} (--link)` },
  };
}

/**
 * An SVG chart: throughput over time for each run and, after a sweep,
 * goodput and loss against the offered rate. Well-formed XML; every data
 * series is one `<path class="series">`.
 */
export function renderBenchSvg(result: BenchResult): string {
  const width = 900;
  const panelH = 300;
  const runs = result.modes.filter((r) => r.intervals.length > 0);
  const panels: string[] = [settingsLine(result)];
  let y = 100;
  panels.push(panel(
    {
      title: `Throughput over time (${result.start.target}, ${
        result.start.payload === "memory" ? "payload from memory" : "real file"
      })`,
      xLabel: "seconds",
      yLabel: "Mbit/s",
      ...linkReference(result),
      // Steps: each interval is a flat segment at the rate it measured.
      // The legend carries each run's figure: a chart read alone says it.
      series: runs.map((r) => ({
        name: `${modeLabel(r)}: ${(r.bitsPerSecond / 1e6).toFixed(0)} Mbit/s`,
        points: r.intervals.flatMap((i): [number, number][] => [
          [i.start, i.bitsPerSecond / 1e6],
          [i.end, i.bitsPerSecond / 1e6],
        ]),
      })),
    },
    80,
    y,
    width - 300,
    panelH,
  ));
  y += panelH + 100;
  if (result.sweep.length > 0) {
    // x is what the sender really sent: an offered rate it could not reach
    // would put the point where it never was.
    const sent = (r: ModeResult) => (r.sentBitsPerSecond ?? 0) / 1e6;
    // In the order of x, so that the line goes left to right.
    const sweep = [...result.sweep].sort((a, b) => sent(a) - sent(b));
    const points = (f: (r: ModeResult) => number) =>
      sweep.map((r): [number, number] => [sent(r), f(r)]);
    const labels = sweep.map((r) =>
      `offered ${((r.offeredRate ?? 0) / 1e6).toFixed(0)}M${
        r.reachedOffered === false ? " (not reached)" : ""
      }`
    );
    panels.push(panel(
      {
        title: "UDP sweep: goodput against the rate sent",
        xLabel: "sent, Mbit/s (datagrams with headers, as measured)",
        yLabel: "goodput, Mbit/s",
        identity: true,
        ...linkReference(result),
        series: [{
          name: "goodput",
          points: points((r) => r.bitsPerSecond / 1e6),
          labels,
        }],
      },
      80,
      y,
      width - 300,
      panelH,
    ));
    y += panelH + 100;
    panels.push(panel(
      {
        title: "UDP sweep: first-pass loss against the rate sent",
        xLabel: "sent, Mbit/s",
        yLabel: "loss, %",
        series: [{
          name: "loss %",
          points: points((r) => r.firstPassLossPercent ?? 0),
          dashed: true,
        }],
        yMax: Math.max(
          1,
          ...result.sweep.map((r) => r.firstPassLossPercent ?? 0),
        ),
      },
      80,
      y,
      width - 300,
      panelH,
    ));
    y += panelH + 100;
  }
  const title = `pasa bench ${esc(result.start.timestamp)}`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${
    y - 40
  }" viewBox="0 0 ${width} ${y - 40}" font-family="sans-serif">
<title>${title}</title>
<rect width="100%" height="100%" fill="white"/>
${panels.join("\n")}
</svg>
`;
}

/**
 * The benchmark's one-to-many part: one sender, N receivers on a lab of
 * N + 1 hosts (scripts/lab.ts), in the same run, alternating: pasa to one
 * receiver of a group, pasa to all N through multicast, pasa to all N by
 * unicast (`--no-multicast`), and UFTP's multicast to the same N. Prints
 * each one's median time, goodput per receiver and in all, loss per
 * receiver, and peak RSS of the sender and of the largest receiver.
 *
 * @module
 */

import { join } from "node:path";
import { type Lab, type LabHost, startLab } from "../scripts/lab.ts";
import { firstJsonLine, pasaArgv } from "../scripts/pasa.ts";
import { alternate, median } from "./lab.ts";

/** What {@link groupBench} needs. */
export interface GroupBenchOptions {
  src: string;
  size: number;
  dir: string;
  runs: number;
  rate: string;
  receivers: number;
  say: (text: string) => void;
}

/** One timed group transfer. */
interface GroupRun {
  seconds: number;
  /** Peak RSS of the sender and of the largest receiver (bytes). */
  sendRss?: number;
  recvRss?: number;
  /** First-pass loss of each receiver, in percent (pasa only). */
  loss?: number[];
  /** pasa's own figure: from the group's start (all paired) to the last verdict. */
  fromStart?: number;
}

const GNU_TIME = "/usr/bin/time";

function timed(lab: Lab, host: LabHost, argv: string[]): Deno.Command {
  const [cmd, ...args] = [
    ...lab.on(host),
    ...[GNU_TIME, "-f", "group-cost %M"],
    ...argv,
  ];
  return new Deno.Command(cmd!, {
    args,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  });
}

function rssOf(stderr: Uint8Array): number | undefined {
  const m = /group-cost (\d+)/.exec(new TextDecoder().decode(stderr));
  return m ? Number(m[1]) * 1024 : undefined;
}

async function pasaGroup(
  lab: Lab,
  o: GroupBenchOptions,
  count: number,
  flags: string[],
): Promise<GroupRun> {
  const [a, ...rest] = lab.hosts as [LabHost, ...LabHost[]];
  const hosts = rest.slice(0, count);
  const out = join(o.dir, "group-out");
  await Deno.remove(out, { recursive: true }).catch(() => {});
  const sender = timed(
    lab,
    a,
    pasaArgv([
      ...["send", o.src, "--listen", "--port", "0", "--json"],
      ...["--receivers", String(count), "--no-announce", ...flags],
    ]),
  ).spawn();
  const sendErr = new Response(sender.stderr).bytes();
  const { line, rest: more } = await firstJsonLine(sender.stdout);
  const started = performance.now();
  const receivers = hosts.map((h) =>
    timed(
      lab,
      h,
      pasaArgv([
        ...["receive", "--from", `${a.address}:${line.port}`],
        ...(flags.includes("--insecure")
          ? ["--insecure"]
          : ["--code", String(line.code)]),
        ...["--out", join(out, h.netns)],
        "--json",
      ]),
    ).output()
  );
  const [done, ...got] = await Promise.all([sender.status, ...receivers]);
  const seconds = (performance.now() - started) / 1000;
  const said = (await more()).trim().split("\n").map((l) => JSON.parse(l));
  const stderr = await sendErr;
  await Deno.remove(out, { recursive: true }).catch(() => {});
  if (!done.success || got.some((g) => !g.success)) {
    const words = (b: Uint8Array) =>
      new TextDecoder().decode(b).split("\n").filter((l) =>
        l.trim() !== "" && !l.startsWith("group-cost")
      ).join(" / ");
    throw new Error(
      `pasa group of ${count} failed: sender ${words(stderr)}; receivers ${
        got.map((g) => words(g.stderr)).join("; ")
      }`,
    );
  }
  const loss = got.map((g) => {
    const lines = new TextDecoder().decode(g.stdout).trim().split("\n");
    const summary = lines.map((l) => JSON.parse(l))
      .find((e) => e.event === "summary");
    return Number(summary?.udp?.firstPassLossPercent ?? 0);
  });
  const rss = got.map((g) => rssOf(g.stderr) ?? 0);
  const end = said.find((e) => e.event === "group-summary");
  const run: GroupRun = {
    seconds,
    loss,
    recvRss: Math.max(...rss),
    fromStart: Number(end?.seconds ?? 0),
  };
  const s = rssOf(stderr);
  if (s) run.sendRss = s;
  return run;
}

async function uftpGroup(
  lab: Lab,
  o: GroupBenchOptions,
  count: number,
): Promise<GroupRun> {
  const [a, ...rest] = lab.hosts as [LabHost, ...LabHost[]];
  const hosts = rest.slice(0, count);
  const out = join(o.dir, "group-uftp");
  await Deno.remove(out, { recursive: true }).catch(() => {});
  const ids = hosts.map((_, i) => `0x${(i + 2).toString(16).padStart(8, "0")}`);
  const daemons = hosts.map((h, i) => {
    const dir = join(out, h.netns);
    Deno.mkdirSync(dir, { recursive: true });
    return {
      dir,
      id: ids[i]!,
      run: timed(lab, h, [
        "uftpd",
        "-d",
        "-p",
        "1044",
        "-U",
        ids[i]!,
        "-D",
        dir,
      ])
        .spawn(),
    };
  });
  await new Promise((r) => setTimeout(r, 500)); // uftpd prints no "ready"
  const started = performance.now();
  const send = await timed(lab, a, [
    ...["timeout", "300", "uftp", "-I", "eth1", "-p", "1044"],
    ...["-U", "0x00000001", "-H", ids.join(","), "-Y", "none"],
    ...["-R", "950000", o.src],
  ]).output();
  const seconds = (performance.now() - started) / 1000;
  const rss: number[] = [];
  for (const d of daemons) {
    await new Deno.Command("pkill", {
      args: ["-INT", "-f", `^uftpd -d -p 1044 -U ${d.id} -D ${d.dir}$`],
    }).output();
    const r = await d.run.output();
    rss.push(rssOf(r.stderr) ?? 0);
  }
  const name = o.src.slice(o.src.lastIndexOf("/") + 1);
  const copied = await Promise.all(
    daemons.map((d) =>
      Deno.stat(join(d.dir, name)).then((s) => s.size, () => 0)
    ),
  );
  await Deno.remove(out, { recursive: true }).catch(() => {});
  if (send.code !== 0 || copied.some((c) => c !== o.size)) {
    throw new Error(`UFTP multicast failed (copied ${copied.join(", ")})`);
  }
  const run: GroupRun = { seconds, recvRss: Math.max(...rss) };
  const s = rssOf(send.stderr);
  if (s) run.sendRss = s;
  return run;
}

/** Runs the one-to-many part and prints its table. */
export async function groupBench(o: GroupBenchOptions): Promise<void> {
  const n = o.receivers;
  await using lab = await startLab({ hosts: n + 1, rate: o.rate });
  const uftp = await new Deno.Command("sh", {
    args: ["-c", "command -v uftp"],
    stdout: "null",
  }).output().then((r) => r.success, () => false);
  const runners: [string, number, () => Promise<GroupRun>][] = [
    ["pasa, 1 receiver", 1, () => pasaGroup(lab, o, 1, [])],
    [`pasa, ${n} multicast`, n, () => pasaGroup(lab, o, n, [])],
    [`pasa, ${n} unicast`, n, () => pasaGroup(lab, o, n, ["--no-multicast"])],
    // Neither encrypted nor authenticated, as UFTP -Y none: what the
    // encryption costs on these shared cores.
    [`pasa --insecure, ${n}`, n, () => pasaGroup(lab, o, n, ["--insecure"])],
  ];
  if (uftp) {
    runners.push(["UFTP, 1 receiver", 1, () => uftpGroup(lab, o, 1)]);
    runners.push([`UFTP, ${n} multicast`, n, () => uftpGroup(lab, o, n)]);
  }
  const { results, failures } = await alternate(
    runners.map(([name, , run]) => [name, run]),
    o.runs,
    "group",
    o.say,
  );
  o.say(
    `\nOne to many: ${n + 1} lab hosts, ${o.rate}, MTU 1500; ${
      (o.size / 2 ** 20).toFixed(0)
    } MiB, median of ${o.runs} (from the receivers' start to the last one's end):`,
  );
  const secondsOf = (name: string) => {
    const rs = results.get(name)!;
    return rs.length ? median(rs.map((r) => r.seconds)) : 0;
  };
  for (const [name, count] of runners) {
    const rs = results.get(name)!;
    if (rs.length === 0) {
      o.say(`  ${name.padEnd(22)} failed: ${failures.get(name)}`);
      continue;
    }
    const s = secondsOf(name);
    const each = o.size / s / 1e6;
    const loss = rs.flatMap((r) => r.loss ?? []);
    const own = rs.map((r) => r.fromStart).filter((x) => x !== undefined);
    const mb = (x: number | undefined) =>
      x === undefined ? "?" : (x / 1e6).toFixed(0);
    o.say(
      `  ${name.padEnd(22)} ${s.toFixed(2).padStart(6)} s  ${
        each.toFixed(1)
      } MB/s each, ${(each * count).toFixed(1)} in all; peak RSS send ${
        mb(Math.max(...rs.map((r) => r.sendRss ?? 0)))
      } MB, receive ${mb(Math.max(...rs.map((r) => r.recvRss ?? 0)))} MB${
        own.length ? `; ${median(own).toFixed(2)} s from the group's start` : ""
      }${
        loss.length
          ? `; first-pass loss ${Math.min(...loss).toFixed(1)}-${
            Math.max(...loss).toFixed(1)
          }%`
          : ""
      }`,
    );
  }
  const one = secondsOf("pasa, 1 receiver");
  const many = secondsOf(`pasa, ${n} multicast`);
  const peer = uftp ? secondsOf(`UFTP, ${n} multicast`) : 0;
  const peerOne = uftp ? secondsOf("UFTP, 1 receiver") : 0;
  const plain = secondsOf(`pasa --insecure, ${n}`);
  if (one > 0 && many > 0) {
    o.say(
      `  ${n} receivers / 1 receiver, time: pasa ${(many / one).toFixed(2)}${
        peer > 0 && peerOne > 0 ? `, UFTP ${(peer / peerOne).toFixed(2)}` : ""
      }${
        peer > 0
          ? `; pasa / UFTP goodput, ${n} multicast: ${
            (peer / many).toFixed(2)
          }${plain > 0 ? ` (--insecure: ${(peer / plain).toFixed(2)})` : ""}`
          : ""
      }`,
    );
  }
  o.say(
    "  (pasa: encrypted unless --insecure, SHA-256 by each receiver, fsync; UFTP -Y none: neither encrypted nor hashed)",
  );
  for (const [name, why] of failures) {
    if (results.get(name)!.length > 0) o.say(`  (${name} failed once: ${why})`);
  }
}

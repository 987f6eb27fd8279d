/**
 * Transfers between two hosts of a lab built inside this machine
 * (scripts/lab.ts): real non-loopback addresses, MTU 1500, a 1 Gbit/s
 * link, random loss. They need root, iproute2 and iptables, and are
 * ignored, with the reason, where those are missing.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type Lab,
  type LabLoss,
  type LabOptions,
  labUnavailable,
  onHost,
  startLab,
} from "../scripts/lab.ts";
import { SLOTS_PER_DATAGRAM_NETWORK } from "../lib/udp_sizing.ts";
import {
  events,
  patterned,
  runPasa,
  sha256File,
  spawnPasa,
  startListening,
  tempDir,
  within,
} from "./helpers.ts";

const unavailable = await labUnavailable();
const ignore = unavailable !== undefined;
const skipped = ignore ? ` (ignored: ${unavailable})` : "";

function summary(stdout: string): Record<string, unknown> {
  return events(stdout).find((e) => e.event === "summary") ?? {};
}

/**
 * Sends a `size`-byte file from lab host 1 to a receiver on host 2 with
 * `flags`; returns both results, the summary and whether the copy is equal.
 */
async function acrossLab(
  options: LabOptions,
  size: number,
  receiveFlags: string[],
  sendFlags: string[],
  /** Runs once the receiver listens, before the sender starts. */
  prepare?: (
    lab: Lab,
    receiver: Lab["hosts"][0],
    port: number,
  ) => Promise<void>,
) {
  await using lab = await startLab(options);
  const [a, b] = lab.hosts as [Lab["hosts"][0], Lab["hosts"][0]];
  await using tmp = await tempDir();
  const file = await patterned(tmp.path, "lab.bin", size);
  const out = join(tmp.path, "out");
  await using receiver = await startListening(
    ["receive", ...receiveFlags, "--host", b.address, "--out", out],
    undefined,
    lab.on(b),
  );
  await prepare?.(lab, b, receiver.port);
  const sent = await runPasa(
    [
      "send",
      file,
      ...sendFlags,
      "--json",
      "--to",
      `${b.address}:${receiver.port}`,
    ],
    undefined,
    undefined,
    lab.on(a),
  );
  const received = await within(60_000, "the receiver", receiver.result());
  const copy = join(out, "lab.bin");
  const same = await sha256File(copy).then(
    async (sum) => sum === await sha256File(file),
    () => false,
  );
  return { sent, received, same, summary: summary(sent.stdout) };
}

const GBIT = { rate: "1gbit" };

/** The hosts of a lab of three. */
function threeHosts(lab: Lab) {
  type Host = Lab["hosts"][0];
  return lab.hosts as [Host, Host, Host];
}

/** Announcing and looking are on in the lab only (scripts/pasa.ts turns them off here). */
const DISCOVERY_ON = { PASA_DISCOVERY: "on" };

Deno.test({
  name:
    `between two lab hosts at 1 Gbit/s, a file crosses over TCP, verified${skipped}`,
  ignore,
  async fn() {
    const r = await within(
      120_000,
      "a TCP transfer on the lab",
      acrossLab(GBIT, 32 * 1024 * 1024, [], []),
    );
    assert.equal(r.sent.code, 0, r.sent.stderr);
    assert.equal(r.received.code, 0, r.received.stderr);
    assert.ok(r.same, "the copy equals the file");
  },
});

Deno.test({
  name:
    `between two lab hosts, UDP goes in large datagrams, cut into IP fragments, verified${skipped}`,
  ignore,
  async fn() {
    const r = await within(
      120_000,
      "a UDP transfer on the lab",
      acrossLab(GBIT, 64 * 1024 * 1024, ["--udp"], ["--udp"]),
    );
    assert.equal(r.sent.code, 0, r.sent.stderr);
    assert.ok(r.same, "the copy equals the file");
    const udp = r.summary.udp as Record<string, unknown>;
    assert.equal(udp.slotsPerDatagram, SLOTS_PER_DATAGRAM_NETWORK);
    assert.equal(udp.fragmentsLost, false, JSON.stringify(udp));
    assert.ok(
      (udp.rateBitsPerSecond as number) <= 1e9,
      `the rate reported is one the link can carry: ${udp.rateBitsPerSecond}`,
    );
  },
});

const LOSSY: [string, LabLoss, boolean][] = [
  [
    "with 2% of datagrams lost on the lab, UDP repairs them and says how many",
    { datagrams: 0.02 },
    false,
  ],
  [
    "where the lab loses 2% of packets before reassembly, UDP falls back to one slot per datagram",
    { packets: 0.02 },
    true,
  ],
];
for (const [what, loss, fragmentsLost] of LOSSY) {
  Deno.test({
    name: `${what}${skipped}`,
    ignore,
    async fn() {
      const r = await within(
        120_000,
        what,
        acrossLab({ ...GBIT, loss }, 32 * 1024 * 1024, ["--udp"], ["--udp"]),
      );
      assert.equal(r.sent.code, 0, r.sent.stderr);
      assert.ok(r.same, "the copy equals the file");
      const udp = r.summary.udp as Record<string, number | boolean>;
      assert.ok(
        (udp.firstPassLossPercent as number) > 0.5,
        JSON.stringify(udp),
      );
      assert.ok((udp.retransmittedBytes as number) > 0);
      assert.equal(udp.fragmentsLost, fragmentsLost, JSON.stringify(udp));
    },
  });
}

Deno.test({
  name:
    `a UDP sender stopped with Ctrl-C on the lab resumes from what the receiver kept${skipped}`,
  ignore,
  async fn() {
    await using lab = await startLab(GBIT);
    const [a, b] = lab.hosts as [Lab["hosts"][0], Lab["hosts"][0]];
    await using tmp = await tempDir();
    const file = await patterned(tmp.path, "lab.bin", 32 * 1024 * 1024);
    const out = join(tmp.path, "out");
    const part = join(out, "lab.bin.pasa.part");
    const to = (port: number) => `${b.address}:${port}`;
    {
      await using receiver = await startListening(
        ["receive", "--udp", "--host", b.address, "--out", out],
        undefined,
        lab.on(b),
      );
      // 32 MiB at 40 Mbit/s takes 7 s: cut it after 4 MB.
      const sender = spawnPasa(
        ["send", file, "--udp", "--rate", "40M", "--to", to(receiver.port)],
        { on: lab.on(a) },
      );
      const deadline = performance.now() + 20_000;
      while ((await Deno.stat(part).then((i) => i.size, () => 0)) < 4e6) {
        assert.ok(performance.now() < deadline, "the transfer got under way");
        await new Promise((r) => setTimeout(r, 10));
      }
      sender.kill("SIGINT");
      const stopped = await within(5_000, "the sender", sender.output());
      assert.equal(stopped.code, 130);
      await within(20_000, "the receiver", receiver.result());
    }
    const kept = (await Deno.stat(part)).size;
    assert.ok(kept > 0, "a prefix is kept");
    await using receiver = await startListening(
      ["receive", "--udp", "--host", b.address, "--out", out],
      undefined,
      lab.on(b),
    );
    const rerun = await runPasa(
      ["send", file, "--udp", "--json", "--to", to(receiver.port)],
      undefined,
      undefined,
      lab.on(a),
    );
    assert.equal(rerun.code, 0, rerun.stderr);
    await receiver.result();
    const resumed = events(rerun.stdout).find((e) => e.event === "resumed");
    assert.ok(
      (resumed?.offset as number) > 0,
      `resumed: ${JSON.stringify(resumed)}`,
    );
    assert.equal(
      await sha256File(join(out, "lab.bin")),
      await sha256File(file),
    );
  },
});

Deno.test({
  name:
    `pasa bench across a 1 Gbit/s lab link reports no rate the link cannot carry, unless it is what was offered${skipped}`,
  ignore,
  async fn() {
    await using lab = await startLab(GBIT);
    const [a, b] = lab.hosts as [Lab["hosts"][0], Lab["hosts"][0]];
    await using tmp = await tempDir();
    await using receiver = await startListening(
      ["receive", "--keep", "--udp", "--host", b.address, "--out", tmp.path],
      undefined,
      lab.on(b),
    );
    const r = await within(
      120_000,
      "a bench on the lab",
      runPasa(
        [
          "bench",
          "--to",
          `${b.address}:${receiver.port}`,
          "--code",
          receiver.listening.code as string,
          "--size",
          "64MiB",
          "--rates",
          "300M,3G",
          "--json",
        ],
        undefined,
        undefined,
        lab.on(a),
      ),
    );
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    const runs = [...doc.end.modes, ...doc.end.sweep] as {
      label: string;
      offeredRate: number | null;
      bitsPerSecond: number;
      sentBitsPerSecond: number | null;
      reachedOffered: boolean | null;
    }[];
    // tbf shapes the link at 1 Gbit/s of IP packets: payload can be no faster.
    for (const run of runs) {
      assert.ok(
        run.bitsPerSecond <= 1e9,
        `${run.label}: goodput ${run.bitsPerSecond}`,
      );
      assert.ok(
        (run.sentBitsPerSecond ?? 0) <= 1.05e9,
        `${run.label}: sent ${run.sentBitsPerSecond}`,
      );
      for (
        const interval of doc.intervals.filter((i: { mode: string }) =>
          i.mode === run.label
        )
      ) {
        assert.ok(
          interval.bitsPerSecond <= 1.05e9,
          `${run.label} interval ${JSON.stringify(interval)}`,
        );
      }
    }
    const over = runs.find((r) => r.offeredRate === 3e9)!;
    assert.equal(over.reachedOffered, false, "3G was offered, never sent");
    receiver.kill();
    await receiver.result();
  },
});

Deno.test({
  name:
    `on a lab of three hosts, a sender with only a code reaches the receiver holding it, not the other one${skipped}`,
  ignore,
  fn: async () => {
    await using lab = await startLab({ hosts: 3 });
    const [a, b, c] = threeHosts(lab);
    await using tmp = await tempDir();
    const file = await patterned(tmp.path, "found.bin", 100_000);
    const on = DISCOVERY_ON;
    await using onB = await startListening(
      ["receive", "--code", "601-amber-anchor", "--out", join(tmp.path, "b")],
      on,
      lab.on(b),
    );
    await using onC = await startListening(
      ["receive", "--code", "602-amber-anchor", "--out", join(tmp.path, "c")],
      on,
      lab.on(c),
    );
    assert.equal(onB.listening.announced, true);
    const sent = await runPasa(
      ["send", file, "--code", "602-amber-anchor", "--json"],
      undefined,
      on,
      lab.on(a),
    );
    assert.equal(sent.code, 0, sent.stderr);
    const said = events(sent.stdout);
    assert.deepEqual(
      said.filter((e) => e.event === "looking").map((e) => e.nameplate),
      ["602"],
    );
    assert.equal(
      said.find((e) => e.event === "connected")?.peer,
      `${c.address}:${onC.port}`,
    );
    await within(30_000, "the receiver on C", onC.result());
    assert.equal(
      await sha256File(join(tmp.path, "c", "found.bin")),
      await sha256File(file),
    );
    // B heard nothing: no pairing attempt was spent on it.
    onB.kill();
    const quiet = await onB.result();
    assert.ok(
      !events(quiet.stdout).some((e) => e.event === "connected"),
      quiet.stdout,
    );
    assert.doesNotMatch(quiet.stderr, /Connection from|Wrong code/);
    // A code nobody holds: said within seconds, with the way out.
    const lost = await runPasa(
      ["send", file, "--code", "603-amber-anchor"],
      undefined,
      on,
      lab.on(a),
    );
    assert.equal(lost.code, 1);
    assert.match(
      lost.stderr,
      /No receiver with code 603-\.\.\. answered on this network within 3 s\..*--to HOST\[:PORT\]/,
    );
  },
});

Deno.test({
  name:
    `on the lab, a receiver that takes one transfer stops announcing itself once a sender paired${skipped}`,
  ignore,
  fn: async () => {
    await using lab = await startLab({ hosts: 3, rate: "20mbit" });
    const [a, b, c] = threeHosts(lab);
    await using tmp = await tempDir();
    // About 3 s at 20 Mbit/s: time for a second sender to look meanwhile.
    const file = await patterned(tmp.path, "slow.bin", 8_000_000);
    const on = DISCOVERY_ON;
    await using receiver = await startListening(
      ["receive", "--code", "641-amber-anchor", "--out", join(tmp.path, "b")],
      on,
      lab.on(b),
    );
    const first = runPasa(
      ["send", file, "--code", "641-amber-anchor", "--json"],
      undefined,
      on,
      lab.on(a),
    );
    // Once the first sender is under way, a second one finds nobody.
    for (let i = 0; i < 100; i++) {
      if (
        await Deno.stat(join(tmp.path, "b", "slow.bin.pasa.part")).then(
          () => true,
          () => false,
        )
      ) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const second = await runPasa(
      ["send", file, "--code", "641-amber-anchor"],
      undefined,
      on,
      lab.on(c),
    );
    assert.equal(second.code, 1);
    assert.match(second.stderr, /No receiver with code 641-\.\.\. answered/);
    assert.equal((await first).code, 0);
    await within(30_000, "the receiver", receiver.result());
  },
});

Deno.test({
  name:
    `on the lab, two receivers showing the same code number: the sender refuses to guess and names both${skipped}`,
  ignore,
  fn: async () => {
    await using lab = await startLab({ hosts: 3 });
    const [a, b, c] = threeHosts(lab);
    await using tmp = await tempDir();
    const on = DISCOVERY_ON;
    const receivers = [];
    for (
      const [host, code] of [[b, "651-amber-anchor"], [
        c,
        "651-other-words",
      ]] as const
    ) {
      receivers.push(
        await startListening(
          ["receive", "--code", code, "--out", join(tmp.path, host.netns)],
          on,
          lab.on(host),
        ),
      );
    }
    const sent = await runPasa(
      [
        "send",
        await patterned(tmp.path, "x.bin", 10),
        "--code",
        "651-amber-anchor",
      ],
      undefined,
      on,
      lab.on(a),
    );
    assert.equal(sent.code, 1);
    assert.match(
      sent.stderr,
      /2 receivers on this network use code number 651/,
    );
    for (const host of [b, c]) {
      assert.match(
        sent.stderr,
        new RegExp(host.address.replaceAll(".", "\\.")),
      );
    }
    for (const r of receivers) {
      r.kill();
      const quiet = await within(10_000, "a receiver", r.result());
      // Neither was tried: no pairing attempt was spent.
      assert.doesNotMatch(quiet.stderr, /Connection from|Wrong code/);
      await r[Symbol.asyncDispose]();
    }
  },
});

Deno.test({
  name:
    `on a lab of three hosts, a receiver with only a code finds the sender waiting with it (--listen), not a receiver with the same number${skipped}`,
  ignore,
  fn: async () => {
    await using lab = await startLab({ hosts: 3 });
    const [a, b, c] = threeHosts(lab);
    await using tmp = await tempDir();
    const file = await patterned(tmp.path, "waiting.bin", 200_000);
    const on = DISCOVERY_ON;
    await using onA = await startListening(
      ["send", file, "--listen", "--code", "661-amber-anchor"],
      on,
      lab.on(a),
    );
    // A receiver announcing the same number is no sender: not connected to.
    await using onC = await startListening(
      [
        "receive",
        "--keep",
        "--code",
        "661-other-words",
        "--out",
        join(tmp.path, "c"),
      ],
      on,
      lab.on(c),
    );
    assert.equal(onA.listening.announced, true);
    assert.equal(onA.listening.role, "sender");
    const received = await runPasa(
      [
        "receive",
        "--code",
        "661-amber-anchor",
        "--out",
        join(tmp.path, "b"),
        "--json",
      ],
      undefined,
      on,
      lab.on(b),
    );
    assert.equal(received.code, 0, received.stderr);
    const said = events(received.stdout);
    assert.equal(said[0]?.event, "listening", "it listens first, as always");
    assert.equal(
      said.find((e) => e.event === "found")?.peer,
      `${a.address}:${onA.port}`,
    );
    assert.equal(
      said.find((e) => e.event === "connected")?.peer,
      `${a.address}:${onA.port}`,
    );
    assert.equal(
      await sha256File(join(tmp.path, "b", "waiting.bin")),
      await sha256File(file),
    );
    assert.equal(
      (await within(30_000, "the sender on A", onA.result())).code,
      0,
    );
    // C heard nothing: no pairing attempt was spent on it.
    onC.kill();
    const quiet = await onC.result();
    assert.doesNotMatch(
      quiet.stderr + quiet.stdout,
      /connected|Connection from|Wrong code/,
    );
  },
});

Deno.test({
  name:
    `on the lab, where IPv4 announcements are dropped, the sender finds the receiver over IPv6 link-local, UDP included${skipped}`,
  ignore,
  fn: async () => {
    await using lab = await startLab({ hosts: 2 });
    const [a, b] = lab.hosts as [Lab["hosts"][0], Lab["hosts"][0]];
    // Host A hears no IPv4 announcement; IPv6 is another path.
    await onHost(lab, a, [
      ...["iptables", "-A", "INPUT", "-p", "udp", "--dport", "9009"],
      ...["-j", "DROP"],
    ]);
    await using tmp = await tempDir();
    const file = await patterned(tmp.path, "six.bin", 3_000_000);
    await using onB = await startListening(
      [
        "receive",
        "--udp",
        "--code",
        "671-amber-anchor",
        "--out",
        join(tmp.path, "b"),
      ],
      DISCOVERY_ON,
      lab.on(b),
    );
    const sent = await runPasa(
      ["send", file, "--udp", "--code", "671-amber-anchor", "--json"],
      undefined,
      DISCOVERY_ON,
      lab.on(a),
    );
    assert.equal(sent.code, 0, sent.stderr);
    const peer = String(
      events(sent.stdout).find((e) => e.event === "connected")?.peer,
    );
    assert.match(peer, /^\[fe80:/, "reached by its link-local address");
    assert.equal(
      (summary(sent.stdout).udp as Record<string, unknown>).datagramSize,
      1452,
      "slots that fit the MTU under IPv6's longer header",
    );
    await within(30_000, "the receiver", onB.result());
    assert.equal(
      await sha256File(join(tmp.path, "b", "six.bin")),
      await sha256File(file),
    );
  },
});

Deno.test({
  name:
    `on the lab, a UDP sender whose own firewall refuses its datagrams stops at once and both sides say why${skipped}`,
  ignore,
  fn: async () => {
    await using lab = await startLab({ hosts: 2 });
    const [a, b] = lab.hosts as [Lab["hosts"][0], Lab["hosts"][0]];
    await onHost(lab, a, [
      ...["iptables", "-A", "OUTPUT", "-p", "udp", "-d", b.address],
      ...["-j", "DROP"],
    ]);
    await using tmp = await tempDir();
    const file = await patterned(tmp.path, "walled.bin", 8_000_000);
    const out = join(tmp.path, "out");
    await using receiver = await startListening(
      ["receive", "--udp", "--host", b.address, "--out", out],
      undefined,
      lab.on(b),
    );
    // Before, the sender waited for the receiver's word, which waited for
    // datagrams: both stopped at the receiver's 60-second time-out.
    const sent = await within(
      20_000,
      "a sender that cannot send datagrams",
      runPasa(
        ["send", file, "--udp", "--to", `${b.address}:${receiver.port}`],
        undefined,
        undefined,
        lab.on(a),
      ),
    );
    assert.notEqual(sent.code, 0);
    assert.match(sent.stderr, /Cannot send datagrams: .*firewall/);
    const received = await within(20_000, "the receiver", receiver.result());
    assert.notEqual(received.code, 0);
    assert.match(received.stderr, /Sender reported: Cannot send datagrams/);
    await assert.rejects(Deno.stat(join(out, "walled.bin")));
  },
});

Deno.test({
  name:
    `on the lab, a receiver whose firewall lets UDP through on the main port only still gets the file: the sender gives up the other lanes and repairs through it${skipped}`,
  ignore,
  fn: async () => {
    const r = await acrossLab(
      { hosts: 2, ...GBIT },
      32 * 1024 * 1024,
      ["--udp"],
      ["--udp"],
      async (lab, b, port) => {
        for (
          const rule of [
            ["-p", "udp", "--dport", String(port), "-j", "ACCEPT"],
            ["-p", "udp", "-j", "DROP"],
          ]
        ) {
          await onHost(lab, b, ["iptables", "-A", "INPUT", ...rule]);
        }
      },
    );
    assert.equal(r.sent.code, 0, r.sent.stderr);
    assert.equal(r.received.code, 0);
    assert.ok(r.same, "the received file equals the sent one");
    const udp = r.summary.udp as Record<string, number>;
    // Two trial datagrams to each of the 15 blocked ports, then none (used
    // to the end, they would have lost 15/16 of every pass).
    assert.ok(
      udp.retransmittedBytes! > 0,
      `the trials were lost and sent again: ${JSON.stringify(udp)}`,
    );
    assert.ok(
      udp.retransmittedBytes! < 8 * 1024 * 1024,
      `the blocked ports were given up: ${JSON.stringify(udp)}`,
    );
  },
});

Deno.test({
  name:
    `on the lab, a 1.5 s firewall cut mid-file: send --retry takes over the session the --keep receiver still holds, and resumes${skipped}`,
  ignore,
  async fn() {
    await using lab = await startLab(GBIT);
    const [a, b] = lab.hosts as [Lab["hosts"][0], Lab["hosts"][0]];
    await using tmp = await tempDir();
    const file = await patterned(tmp.path, "lab.bin", 32 * 1024 * 1024);
    const out = join(tmp.path, "out");
    const part = join(out, "lab.bin.pasa.part");
    await using receiver = await startListening(
      ["receive", "--keep", "--host", b.address, "--out", out],
      undefined,
      lab.on(b),
    );
    // Slowed by the sender's own link: 32 MiB at 40 Mbit/s is 7 s.
    await onHost(lab, a, [
      ...["tc", "qdisc", "replace", "dev", "eth1", "root", "tbf"],
      ...["rate", "40mbit", "burst", "32kb", "latency", "50ms"],
    ]);
    const sender = spawnPasa([
      ...["send", file, "--retry", "3", "--timeout", "1", "--json"],
      ...["--to", `${b.address}:${receiver.port}`],
    ], { on: lab.on(a) });
    const deadline = performance.now() + 20_000;
    while ((await Deno.stat(part).then((i) => i.size, () => 0)) < 4e6) {
      assert.ok(performance.now() < deadline, "the transfer got under way");
      await new Promise((r) => setTimeout(r, 10));
    }
    // Every packet the receiver's host gets is dropped for 1.5 s: neither
    // side sees a reset; the sender times out, the receiver (60 s) does not.
    // The old connection stays dead after it (its path lost, as behind a
    // NAT that forgot it): only new connections get through again.
    const rule = ["INPUT", "-s", a.address, "-j", "DROP"];
    await onHost(lab, b, ["iptables", "-I", ...rule]);
    const old = await new Deno.Command("ip", {
      args: ["netns", "exec", b.netns, "ss", "-tnH", "state", "established"],
      stdout: "piped",
    }).output();
    const ports = [
      ...new TextDecoder().decode(old.stdout).matchAll(
        new RegExp(`${a.address.replaceAll(".", "\\.")}:(\\d+)`, "g"),
      ),
    ].map((m) => m[1]!);
    assert.ok(ports.length > 0, "the connection under way");
    for (const port of ports) {
      await onHost(lab, b, [
        ...["iptables", "-I", "INPUT", "-s", a.address],
        ...["-p", "tcp", "--sport", port, "-j", "DROP"],
      ]);
    }
    await new Promise((r) => setTimeout(r, 1500));
    await onHost(lab, b, ["iptables", "-D", ...rule]);
    const sent = await within(60_000, "the sender", sender.output());
    const said = new TextDecoder().decode(sent.stdout);
    assert.equal(sent.code, 0, new TextDecoder().decode(sent.stderr) + said);
    assert.match(said, /trying again/);
    assert.ok(
      events(said).some((e) => e.event === "resumed"),
      "the retry resumed what arrived before the cut",
    );
    assert.equal(
      await sha256File(join(out, "lab.bin")),
      await sha256File(file),
    );
    receiver.kill();
    assert.ok(
      events((await receiver.result()).stdout).some((e) =>
        e.event === "takeover"
      ),
    );
  },
});

Deno.test({
  name:
    `on the lab, a sender that announces a receiver's code number without its words neither ends the receiver nor spends its one pairing: the real sender gets through${skipped}`,
  ignore,
  fn: async () => {
    await using lab = await startLab({ hosts: 3 });
    const [a, b, c] = threeHosts(lab);
    await using tmp = await tempDir();
    const file = await patterned(tmp.path, "real.bin", 100_000);
    const on = DISCOVERY_ON;
    // On C, anyone: the number is public, the words are not.
    await using impostor = await startListening(
      ["send", file, "--listen", "--code", "662-wrong-words"],
      on,
      lab.on(c),
    );
    await using receiver = await startListening(
      ["receive", "--code", "662-amber-anchor", "--out", join(tmp.path, "a")],
      on,
      lab.on(a),
    );
    // The receiver calls the impostor and fails to pair: it goes on listening.
    const failed = await within(
      20_000,
      "the impostor's failed pairing",
      impostor.result(),
    );
    assert.equal(failed.code, 5, failed.stderr);
    const sent = await runPasa(
      [
        ...["send", file, "--code", "662-amber-anchor"],
        ...["--to", `${a.address}:${receiver.port}`],
      ],
      undefined,
      on,
      lab.on(b),
    );
    assert.equal(sent.code, 0, sent.stderr);
    const got = await within(30_000, "the receiver", receiver.result());
    assert.equal(got.code, 0, got.stderr);
    assert.match(got.stdout, /did not pair/);
    assert.equal(
      await sha256File(join(tmp.path, "a", "real.bin")),
      await sha256File(file),
    );
  },
});

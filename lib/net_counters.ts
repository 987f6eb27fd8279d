/**
 * The kernel's own network counters, where Linux tells them: UDP datagrams
 * a full socket buffer made it drop (`RcvbufErrors`), and TCP segments it
 * sent again (`RetransSegs`), both from `/proc/net/snmp`.
 *
 * They count for the whole host (for its network namespace: each lab host
 * has its own), not for one socket; a delta over a run is this run's only
 * when nothing else on the host sends or receives meanwhile, and the
 * reports say "on this host".
 *
 * Deno refuses to read `/proc` unless given every permission, which pasa is
 * never given; so the file is read by `cat`, the one program pasa may run
 * (`--allow-run=cat`). Without that permission, on another system, or when
 * anything fails, there are no counters (null): never a guessed zero.
 */

/** The counters pasa reports, each a running total since boot. */
export interface NetCounters {
  /** UDP datagrams dropped because a socket's receive buffer was full. */
  udpRcvbufErrors: number;
  /** TCP segments sent again. */
  tcpRetransSegs: number;
}

/**
 * Parses `/proc/net/snmp`: each protocol is a pair of lines, names then
 * values (`Udp: InDatagrams ... RcvbufErrors ...` / `Udp: 12 ... 3 ...`).
 * Returns null when either counter is missing or not a number.
 */
export function parseSnmp(text: string): NetCounters | null {
  const table = new Map<string, Map<string, number>>();
  const lines = text.split("\n");
  for (let i = 0; i + 1 < lines.length; i++) {
    const names = lines[i]!.trim().split(/\s+/);
    const values = lines[i + 1]!.trim().split(/\s+/);
    const section = names[0];
    if (!section?.endsWith(":") || values[0] !== section) continue;
    if (values.length !== names.length) continue;
    if (values.slice(1).every((v) => /^-?\d+$/.test(v))) {
      const row = new Map<string, number>();
      names.slice(1).forEach((n, k) => row.set(n, Number(values[k + 1])));
      table.set(section.slice(0, -1), row);
      i++; // the values line is consumed
    }
  }
  const udp = table.get("Udp")?.get("RcvbufErrors");
  const tcp = table.get("Tcp")?.get("RetransSegs");
  if (udp === undefined || tcp === undefined) return null;
  return { udpRcvbufErrors: udp, tcpRetransSegs: tcp };
}

/** Whether pasa may run `cat` here, asked without prompting. */
function mayRunCat(): boolean {
  try {
    return Deno.build.os === "linux" &&
      Deno.permissions.querySync({ name: "run", command: "cat" }).state ===
        "granted";
  } catch {
    return false;
  }
}

/** This host's counters now, or null where Linux does not tell them to pasa. */
export async function readNetCounters(): Promise<NetCounters | null> {
  if (!mayRunCat()) return null;
  try {
    const out = await new Deno.Command("cat", {
      args: ["/proc/net/snmp"],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    if (!out.success) return null;
    return parseSnmp(new TextDecoder().decode(out.stdout));
  } catch {
    return null;
  }
}

/** What changed between two readings, or null if either is missing. */
export function countersDelta(
  before: NetCounters | null,
  after: NetCounters | null,
): NetCounters | null {
  if (!before || !after) return null;
  return {
    udpRcvbufErrors: Math.max(
      0,
      after.udpRcvbufErrors - before.udpRcvbufErrors,
    ),
    tcpRetransSegs: Math.max(0, after.tcpRetransSegs - before.tcpRetransSegs),
  };
}

/**
 * A small LAN inside this machine, for tests and the benchmark: hosts are
 * network namespaces (`pasaL1` at 10.78.0.1, `pasaL2` at 10.78.0.2, ...),
 * each with a veth cable of MTU 1500 into a bridge in namespace `pasaLsw`.
 * Each host's sending side can be rate-limited (tbf, like a NIC), and each
 * can drop a random share of what it receives: whole datagrams (iptables
 * INPUT, after reassembly) or packets (raw PREROUTING, before reassembly,
 * so IP fragments are lost one by one). Traffic never leaves the machine.
 *
 * Needs root, iproute2 and iptables; {@link labUnavailable} says why not.
 *
 * @module
 */

/** Loss on each host's input. */
export interface LabLoss {
  /** Share of whole datagrams dropped (after IP reassembly). */
  datagrams?: number;
  /** Share of packets dropped before reassembly (fragments one by one). */
  packets?: number;
}

/** Options of {@link startLab}. */
export interface LabOptions {
  /** Hosts, 2 to 8. @default {2} */
  hosts?: number;
  /** tbf rate of each host's sending side, e.g. "1gbit"; none when absent. */
  rate?: string;
  loss?: LabLoss;
}

/** One host of the lab. */
export interface LabHost {
  /** Its network namespace. */
  netns: string;
  address: string;
}

/** A running lab; `close()` removes it. */
export interface Lab extends AsyncDisposable {
  hosts: LabHost[];
  /** The argv prefix that runs a command on `host`. */
  on(host: LabHost): string[];
  close(): Promise<void>;
}

const PREFIX = "pasaL";
const SWITCH = `${PREFIX}sw`;
const MAX_HOSTS = 8;

async function run(argv: string[]): Promise<{ ok: boolean; err: string }> {
  try {
    const out = await new Deno.Command(argv[0]!, {
      args: argv.slice(1),
      stdout: "null",
      stderr: "piped",
    }).output();
    return { ok: out.success, err: new TextDecoder().decode(out.stderr) };
  } catch (error) {
    return { ok: false, err: (error as Error).message };
  }
}

async function must(argv: string[]): Promise<void> {
  const r = await run(argv);
  if (!r.ok) {
    throw new Error(`Lab set-up failed: ${argv.join(" ")}: ${r.err.trim()}`);
  }
}

/** Runs `argv` on `host` to completion (iptables, ip route); throws with its words if it fails. */
export function onHost(
  lab: Lab,
  host: LabHost,
  argv: string[],
): Promise<void> {
  return must([...lab.on(host), ...argv]);
}

/** Why a lab cannot be built here, or undefined when it can. */
export async function labUnavailable(): Promise<string | undefined> {
  if (Deno.build.os !== "linux") return "the lab needs Linux namespaces";
  if (Deno.uid() !== 0) return "the lab needs root (network namespaces)";
  for (const tool of ["ip", "iptables"]) {
    const r = await run([tool, "-V"]);
    if (!r.ok) {
      return `the lab needs ${tool} (apt-get install -y iproute2 iptables)`;
    }
  }
  return undefined;
}

/** Removes every namespace a lab may have left (a crashed run's too). */
export async function removeLab(): Promise<void> {
  for (let i = 1; i <= MAX_HOSTS; i++) {
    await run(["ip", "netns", "del", `${PREFIX}${i}`]);
  }
  await run(["ip", "netns", "del", SWITCH]);
}

/** Builds a lab; throws with the failing command if it cannot. */
export async function startLab(options: LabOptions = {}): Promise<Lab> {
  const count = options.hosts ?? 2;
  if (count < 2 || count > MAX_HOSTS) {
    throw new RangeError(`A lab has 2 to ${MAX_HOSTS} hosts, not ${count}`);
  }
  await removeLab();
  const hosts: LabHost[] = [];
  try {
    await must(["ip", "netns", "add", SWITCH]);
    const sw = ["ip", "-n", SWITCH];
    await must([...sw, "link", "add", "br0", "type", "bridge"]);
    await must([...sw, "link", "set", "br0", "up"]);
    for (let i = 1; i <= count; i++) {
      const host = { netns: `${PREFIX}${i}`, address: `10.78.0.${i}` };
      const on = ["ip", "-n", host.netns];
      const dev = `eth${i}`;
      await must(["ip", "netns", "add", host.netns]);
      await must([
        ...["ip", "link", "add", dev, "netns", host.netns, "type", "veth"],
        ...["peer", "name", `port${i}`, "netns", SWITCH],
      ]);
      await must([...sw, "link", "set", `port${i}`, "master", "br0"]);
      await must([...sw, "link", "set", `port${i}`, "mtu", "1500", "up"]);
      await must([...on, "addr", "add", `${host.address}/24`, "dev", dev]);
      await must([...on, "link", "set", "lo", "up"]);
      // The IPv6 link-local address is usable at once, not after a second or
      // two of duplicate detection (announcements use it).
      await must([
        ...["ip", "netns", "exec", host.netns, "sysctl", "-qw"],
        `net.ipv6.conf.${dev}.accept_dad=0`,
      ]);
      await must([...on, "link", "set", dev, "mtu", "1500", "up"]);
      // Multicast (receivers announcing themselves) leaves by the lab's
      // cable: a namespace has no default route to send it by.
      await must([...on, "route", "add", "224.0.0.0/4", "dev", dev]);
      const exec = ["ip", "netns", "exec", host.netns];
      if (options.rate) {
        await must([
          ...exec,
          ...["tc", "qdisc", "replace", "dev", dev, "root", "tbf"],
          ...["rate", options.rate, "burst", "256kb", "latency", "20ms"],
        ]);
      }
      const drop = (table: string[], share: number) =>
        must([
          ...exec,
          "iptables",
          ...table,
          ...["-i", dev, "-m", "statistic", "--mode", "random"],
          ...["--probability", String(share), "-j", "DROP"],
        ]);
      if (options.loss?.datagrams) {
        await drop(["-A", "INPUT"], options.loss.datagrams);
      }
      if (options.loss?.packets) {
        await drop(["-t", "raw", "-A", "PREROUTING"], options.loss.packets);
      }
      hosts.push(host);
    }
  } catch (error) {
    await removeLab();
    throw error;
  }
  const close = () => removeLab();
  return {
    hosts,
    on: (host) => ["ip", "netns", "exec", host.netns],
    close,
    [Symbol.asyncDispose]: close,
  };
}

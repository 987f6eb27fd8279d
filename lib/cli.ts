/**
 * The command line: commands, flags and help text. {@link parseArgs}
 * turns arguments into a typed {@link Command} or throws a UsageError;
 * it never prints or exits.
 *
 * @module
 */

import { Command as Commander, CommanderError } from "commander";
import { ExitCode, UsageError } from "./errors.ts";
import { type Address, DEFAULT_PORT, parseAddress, parsePort } from "./tcp.ts";
import { DATAGRAM_SIZE_MAX, DATAGRAM_SIZE_MIN, parseRate } from "./udp.ts";
import { parseSize } from "./units.ts";
import { versionText } from "./version.ts";

/** Flags every transfer command shares. */
export interface CommonFlags {
  raw: boolean;
  /** The pairing code as given with --code (PASA_CODE is read later). */
  code?: string;
  /** No pairing and no encryption. */
  insecure: boolean;
  timeoutMs: number;
  json: boolean;
  quiet: boolean;
  /** List every file one by one, however many (else the first 100). */
  everyFile: boolean;
}

/** `pasa receive`. */
export interface ReceiveCommand extends CommonFlags {
  kind: "receive";
  /** Also take UDP transfers (on the same port number). */
  udp: boolean;
  /** UDP datagrams on the main port only: no lanes (PROTOCOL.md 9.1). */
  onePort: boolean;
  port: number;
  host?: string;
  from?: Address;
  out: string;
  keep: boolean;
  /** Do not announce this receiver on the local network. */
  noAnnounce: boolean;
  /** Accept without asking, even on a terminal. */
  yes: boolean;
  stdout: boolean;
  name?: string;
  force: boolean;
  maxSize: number;
  /** With --keep: transfers served at once; the excess is refused. */
  maxConnections: number;
}

/** `pasa send`. */
export interface SendCommand extends CommonFlags {
  kind: "send";
  paths: string[];
  to?: Address;
  listen: boolean;
  /** With --listen: not announced on the LAN (receivers then need --from). */
  noAnnounce: boolean;
  port: number;
  host?: string;
  name?: string;
  /** Send file bodies as UDP datagrams. */
  udp: boolean;
  /** Datagram size, header included; undefined: automatic. */
  datagramSize?: number;
  /** Fixed rate, bits per second; undefined: adaptive. */
  rate?: number;
  lossy: boolean;
  /** Start every file over instead of resuming. */
  noResume: boolean;
  /** Compare files already on the receiver by SHA-256, not by size and time. */
  check: boolean;
  /** Reconnect and resume this many times after a connection loss. */
  retry: number;
  /** With --listen: wait for this many receivers and send to all at once (a group). */
  receivers?: number;
  /** With --receivers: start after this long with whoever joined. */
  waitSeconds?: number;
  /** With --receivers: datagrams to the multicast group (else to each by unicast). */
  multicast: boolean;
  /** With --receivers: a receiver under this rate (bit/s) for 3 s is dropped. */
  minRate?: number;
}

/** `pasa bench`. */
export interface BenchCommand {
  kind: "bench";
  to?: Address;
  /** One to many: wait for this many receivers and send the payload once to all (a group). */
  receivers?: number;
  /** With `receivers`: start after this long with whoever joined. */
  waitSeconds?: number;
  /** With `receivers`: to the multicast group (else to each by unicast). */
  multicast: boolean;
  /** With `receivers`: the port to wait on. */
  port: number;
  size: number;
  file?: string;
  durationSeconds?: number;
  rates: number[];
  intervalSeconds: number;
  chart?: string;
  /** Measure the other direction: the receiver sends. */
  reverse: boolean;
  /** Pairing code of the `--to` receiver. */
  code?: string;
  /** Measure without pairing or encryption. */
  insecure: boolean;
  /** Pair and encrypt against the embedded receiver too (always with `--to`, unless `--insecure`). */
  encrypt: boolean;
  /** Also measure what SHA-256 and encryption cost here, apart from the network. */
  cost: boolean;
  /** UDP runs send datagrams of exactly this size, one slot each (as iperf3's `-l`). */
  datagramSize?: number;
  /** Print one CSV row per run instead of the table. */
  csv: boolean;
  /** Run everything this many times, for a mean and a spread. */
  runs: number;
  /** TCP runs use this many connections at once. */
  parallel: number;
  /** The link's rate (bit/s), as the user knows it: a reference line and a share. */
  link?: number;
  timeoutMs: number;
  json: boolean;
  quiet: boolean;
}

/** Text to print and an exit code (help, version, no command). */
export interface TextCommand {
  kind: "text";
  text: string;
  exitCode: number;
}

/** What the user asked for. */
export type Command = ReceiveCommand | SendCommand | BenchCommand | TextCommand;

/** Default seconds of silence before a connection is given up. */
export const DEFAULT_TIMEOUT_S = 60;

const EXIT_CODES = `
Exit codes:
  0  success                     3  integrity failure (SHA-256 mismatch, a
  1  network or I/O failure         modified record), or a --lossy UDP file
     (no receiver found too)        that lost data
  2  usage error                 4  refused by the receiver (exists, too
  130 interrupted (Ctrl-C)          large, unsafe name, no space, no UDP,
                                    declined by its user)
                                 5  pairing failed (wrong code, receiver
                                    locked, only one side --insecure)`;

function parseTimeout(text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0) {
    throw new UsageError(
      `Invalid --timeout ${JSON.stringify(text)}: expected seconds, 0 for none`,
    );
  }
  return Math.round(n * 1000);
}

function sizeFlag(text: string, flag = "--max-size"): number {
  try {
    return parseSize(text);
  } catch (error) {
    throw new UsageError(`Invalid ${flag}: ${(error as Error).message}`);
  }
}

const CODE_HELP =
  "pairing code (also PASA_CODE); a listening side makes one up if none is given";
const INSECURE_HELP =
  "no code and no encryption (both sides must say so); --raw is always plain";

function commonOptions(cmd: Commander): Commander {
  return cmd
    .option("-c, --code <code>", CODE_HELP)
    .option("--insecure", INSECURE_HELP)
    .option(
      "--raw",
      "use the classic format: 4-byte big-endian size, then the bytes (no name, no hash)",
    )
    .option(
      "--timeout <seconds>",
      "give up after this long without traffic, or without an answer when connecting (0: never)",
      String(DEFAULT_TIMEOUT_S),
    )
    .option("--json", "print JSON Lines events on stdout, for scripts")
    .option(
      "--every-file",
      "list every file as it is verified, however many (default: the first 100; the summary counts them all)",
    )
    .option("-q, --quiet", "print nothing but errors");
}

function common(o: Record<string, unknown>): CommonFlags {
  const flags: CommonFlags = {
    raw: o.raw === true,
    insecure: o.insecure === true,
    timeoutMs: parseTimeout(String(o.timeout)),
    json: o.json === true,
    quiet: o.quiet === true,
    everyFile: o.everyFile === true,
  };
  if (o.code !== undefined) flags.code = String(o.code);
  checkSecurity(flags);
  return flags;
}

function checkSecurity(c: { raw?: boolean; code?: string; insecure: boolean }) {
  if (c.code !== undefined && c.insecure) {
    throw new UsageError("Choose one of --code and --insecure");
  }
  if (c.code !== undefined && c.raw) {
    throw new UsageError(
      "--raw is the classic plain format: it has no code and no encryption",
    );
  }
}

function buildProgram(
  sink: { out: string; err: string },
  done: (c: Command) => void,
): Commander {
  const program = new Commander("pasa")
    .description(
      "Copy files between two machines over TCP or UDP, verified with SHA-256,\nand measure TCP against UDP on your own network.",
    )
    .version(
      versionText(),
      "-V, --version",
      "print the pasa, protocol and Deno versions",
    )
    .helpOption("-h, --help", "show help")
    .addHelpCommand(false)
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => (sink.out += s),
      writeErr: (s) => (sink.err += s),
      getOutHasColors: () => false,
      getErrHasColors: () => false,
      getOutHelpWidth: () => 80,
      getErrHelpWidth: () => 80,
    })
    .addHelpText(
      "after",
      `
Examples:
  pasa receive                         # on the machine that gets the files
  pasa send photos/ notes.txt --to 192.168.1.20
  pasa bench                           # TCP against UDP on this machine
  pasa help receive                    # more on one command
${EXIT_CODES}`,
    );

  const receive = program.command("receive")
    .description(
      "Receive files: listen (or connect with --from) and take one transfer.",
    )
    .option(
      "-p, --port <port>",
      "port to listen on (0: any free port)",
      String(DEFAULT_PORT),
    )
    .option(
      "--host <addr>",
      "listen on this address only (default: all, IPv4 and IPv6)",
    )
    .option(
      "--from <host[:port]>",
      "connect to a sender started with `pasa send --listen`",
    )
    .option(
      "-o, --out <dir>",
      "directory to write into (created if missing)",
      ".",
    )
    .option("--keep", "serve transfers until interrupted, several at once")
    .option(
      "--no-announce",
      "do not announce this receiver on the local network (senders then need --to)",
    )
    .option(
      "-y, --yes",
      "accept the transfer without asking (a receiver on a terminal asks first)",
    )
    .option("--stdout", "write the single incoming file to stdout")
    .option(
      "--name <name>",
      "with --raw: the file name to write (the format carries none)",
    )
    .option("-f, --force", "replace existing files")
    .option(
      "--udp",
      "also take UDP transfers (pasa send --udp, pasa bench), on the same port number",
    )
    .option(
      "--one-port",
      "with --udp: take datagrams on that port only, where a firewall or port forwarding lets no other through (default: also on up to 15 ports the system picks, each a socket buffer of its own, as the sender asks)",
    )
    .option(
      "--max-size <size>",
      "refuse transfers larger than this (e.g. 500M, 2GiB; each directory or empty file counts 4 KiB)",
    )
    .option(
      "--max-connections <n>",
      "with --keep: serve at most n paired transfers at once, refuse the rest",
      "64",
    );
  commonOptions(receive)
    .addHelpText(
      "after",
      `
Files are written as NAME.pasa.part, checked against the sender's SHA-256,
synced to disk, and only then renamed to NAME. Names are checked first:
absolute paths, "..", backslashes, drive letters and control characters are
refused, nothing is written outside --out, and existing files are kept
unless --force.

Examples:
  pasa receive                          # port 9000, into the current directory
  pasa receive --port 0 --out inbox     # any free port, into ./inbox
  pasa receive --keep --max-size 2G     # a drop box for the whole lab
  pasa receive --code 831-lobster-orbit # also finds a sender waiting with --listen
  pasa receive --from 192.168.1.20      # that sender, by its address
  pasa receive --udp                    # TCP and UDP senders
  pasa receive --raw --name data.bin    # classic format: python, nc
${EXIT_CODES}`,
    )
    .action((o: Record<string, unknown>) => {
      const c: ReceiveCommand = {
        kind: "receive",
        ...common(o),
        port: parsePort(String(o.port)),
        out: String(o.out),
        keep: o.keep === true,
        noAnnounce: o.announce === false,
        yes: o.yes === true,
        stdout: o.stdout === true,
        force: o.force === true,
        maxSize: o.maxSize === undefined
          ? Infinity
          : sizeFlag(String(o.maxSize)),
        udp: o.udp === true,
        onePort: o.onePort === true,
        maxConnections: parseCount(
          String(o.maxConnections),
          "--max-connections",
        ),
      };
      if (o.host !== undefined) c.host = String(o.host);
      if (o.from !== undefined) c.from = parseAddress(String(o.from));
      if (o.name !== undefined) c.name = String(o.name);
      checkReceive(c, o);
      done(c);
    });

  const send = program.command("send")
    .description("Send files or directories (or - for stdin) to a receiver.")
    .argument(
      "<path...>",
      "files or directories to send, or - for standard input",
    )
    .option(
      "-t, --to <host[:port]>",
      `receiver's address (port ${DEFAULT_PORT} unless given); without it, found on the LAN by its code`,
    )
    .option(
      "--listen",
      "wait for the receiver to connect (it runs `pasa receive --code CODE`, or --from this address)",
    )
    .option(
      "-p, --port <port>",
      "with --listen: port to listen on (0: any free port)",
      String(DEFAULT_PORT),
    )
    .option("--host <addr>", "with --listen: listen on this address only")
    .option(
      "--no-announce",
      "with --listen: do not announce this sender on the local network (receivers then need --from)",
    )
    .option(
      "--name <name>",
      "name the receiver gets for stdin or a single file",
    )
    .option(
      "--udp",
      "send file bodies as UDP datagrams (the receiver runs pasa receive --udp)",
    )
    .option(
      "--rate <bits/s>",
      "with --udp: a fixed rate, e.g. 500M or 2G (default: adapt to loss)",
    )
    .option(
      "--datagram-size <bytes>",
      "with --udp: exact datagram size, header included (default: slots of 1472 bytes, several to a datagram while the path keeps IP fragments)",
    )
    .option(
      "--lossy",
      "with --udp: one pass, no repair: measure loss; a file that does not arrive whole is not kept",
    )
    .option(
      "--no-resume",
      "start every file over, even where the receiver kept part of it",
    )
    .option(
      "--receivers <n>",
      "with --listen: wait for n receivers (1 to 64), then send to all at once; the data goes once, to a multicast group",
    )
    .option(
      "--wait <seconds>",
      "with --receivers: start after this long with whoever joined by then (Enter on the terminal starts at once)",
    )
    .option(
      "--no-multicast",
      "with --receivers: send to each receiver by unicast (where multicast does not pass)",
    )
    .option(
      "--min-rate <bits/s>",
      "with --receivers: drop a receiver that takes less than this for 3 s (it keeps what arrived)",
    )
    .option(
      "--check",
      "files already on the receiver: compare contents (SHA-256, both ends read them) instead of trusting the same size and modification time",
    )
    .option(
      "--retry <n>",
      "after a connection loss, reconnect and resume up to n times",
      "0",
    );
  commonOptions(send)
    .addHelpText(
      "after",
      `
The sender exits 0 only after the receiver has checked every file's SHA-256,
synced it to disk and put it under its final name.

Without --to, the receiver holding the code is found on the local network
by the code's number (up to 3 s); where that cannot work, give --to. With
--listen, the sender announces itself, and a receiver given only the code
finds it.

Examples:
  pasa send report.pdf --code 831-lobster-orbit   # the receiver on this LAN
  pasa send report.pdf --to 192.168.1.20
  pasa send photos/ --to lab-3:9100           # a whole directory, recursively
  tar c src | pasa send - --name src.tar --to lab-3
  pasa send big.iso --listen                  # receiver runs: pasa receive --code CODE
  pasa send big.iso --to lab-3 --retry 5      # resume after each cut (receive --keep)
  pasa send data.bin --raw --to 127.0.0.1:5000  # classic format: python, nc
  pasa send big.iso --udp --to lab-3          # over UDP, rate adapted to loss
  pasa send big.iso --udp --lossy --rate 1G --to lab-3   # measure loss at 1 Gbit/s
  pasa send exam/ --listen --receivers 30 --wait 120   # the whole room at once

With --receivers, each receiver runs pasa receive --code CODE (or --from this
address) and pairs on its own connection; Enter on the sender's terminal starts
with whoever has joined. The files then go once, over UDP to
a multicast group, sealed with a key each receiver got over its own encrypted
connection, and each one asks for what it missed. A receiver the group's
datagrams do not reach gets them by unicast; one that holds the others back
(under a quarter of what the group carries, or --min-rate, for 3 s) or stops
answering is dropped and keeps what arrived. The sender exits 0 only if every
receiver that joined checked every file.
${EXIT_CODES}`,
    )
    .action((paths: string[], o: Record<string, unknown>) => {
      const c: SendCommand = {
        kind: "send",
        ...common(o),
        paths,
        listen: o.listen === true,
        noAnnounce: o.announce === false,
        port: parsePort(String(o.port)),
        udp: o.udp === true,
        lossy: o.lossy === true,
        noResume: o.resume === false,
        check: o.check === true,
        retry: parseRetry(String(o.retry)),
        multicast: o.multicast !== false,
      };
      if (o.receivers !== undefined) {
        c.receivers = parseCount(String(o.receivers), "--receivers", 64);
      }
      if (o.wait !== undefined) {
        c.waitSeconds = positiveSeconds(String(o.wait), "--wait");
      }
      if (o.minRate !== undefined) {
        c.minRate = parseRate(String(o.minRate), "--min-rate");
      }
      if (o.rate !== undefined) c.rate = parseRate(String(o.rate));
      if (o.datagramSize !== undefined) {
        c.datagramSize = parseDatagramSize(String(o.datagramSize));
      }
      if (o.to !== undefined) c.to = parseAddress(String(o.to));
      if (o.host !== undefined) c.host = String(o.host);
      if (o.name !== undefined) c.name = String(o.name);
      checkSend(c, o);
      done(c);
    });

  program.command("bench")
    .description(
      "Measure TCP against UDP (reliable and --lossy) in one run, and draw it.",
    )
    .option(
      "-t, --to <host[:port]>",
      "measure against a pasa receive --keep --udp there (default: an embedded receiver on loopback)",
    )
    .option(
      "--size <size>",
      "payload size per run, generated in memory",
      "256MiB",
    )
    .option(
      "--file <path>",
      "send this real file instead (measures the disk too)",
    )
    .option(
      "--duration <seconds>",
      "run each mode for about this long instead of a size",
    )
    .option(
      "--rates <list>",
      "sweep UDP --lossy over these offered rates, e.g. 100M,500M,1G",
    )
    .option("--interval <seconds>", "interval between throughput reports", "1")
    .option(
      "-R, --reverse",
      "measure the other direction: the receiver sends, pasa bench receives",
    )
    .option(
      "--chart <file.svg>",
      "write an SVG chart: throughput over time, and the sweep",
    )
    .option(
      "--timeout <seconds>",
      "give up after this long without traffic, or without an answer when connecting (0: never)",
      String(DEFAULT_TIMEOUT_S),
    )
    .option(
      "--json",
      "print one JSON document (start, intervals, end) on stdout",
    )
    .option(
      "-c, --code <code>",
      "pairing code of the --to receiver (also PASA_CODE)",
    )
    .option(
      "--insecure",
      "with --to: measure without pairing or encryption (the receiver runs --insecure too)",
    )
    .option(
      "--encrypt",
      "on loopback: pair and encrypt too, as a transfer does (with --to it always does)",
    )
    .option(
      "--datagram-size <bytes>",
      "UDP runs send datagrams of exactly this size, one slot each (as iperf3 -l)",
    )
    .option("--csv", "print one CSV row per run instead of the table")
    .option(
      "-P, --parallel <n>",
      "TCP runs use n connections at once (1 to 128), the payload split between them, as iperf3 -P",
      "1",
    )
    .option(
      "--runs <n>",
      "run everything n times (1 to 100) and report each kind's mean, standard deviation and range",
      "1",
    )
    .option(
      "--link <rate>",
      "the link's rate, e.g. 1G: a reference line on the chart, and each run's goodput as a share of it",
    )
    .option(
      "--cost",
      "also measure what SHA-256 and ChaCha20-Poly1305 cost on this machine, on a line of their own",
    )
    .option("-q, --quiet", "print nothing but the table and errors")
    .option(
      "--receivers <n>",
      "one to many: wait for n receivers (pasa receive --code CODE, or --from this address) and send the payload once to all, through a multicast group",
    )
    .option(
      "--wait <seconds>",
      "with --receivers: start after this long with whoever joined",
    )
    .option(
      "--no-multicast",
      "with --receivers: send to each receiver by unicast",
    )
    .option(
      "-p, --port <port>",
      "with --receivers: port to wait on (0: any free port)",
      String(DEFAULT_PORT),
    )
    .addHelpText(
      "after",
      `
Each run sends the payload with pasa's own protocol, and the receiver keeps
nothing. A payload generated in memory is compared byte for byte where it
lands (both ends make it from a seed), so the network, not SHA-256 or a disk,
is what is measured; --file sends a real file and the receiver checks it with
SHA-256. On loopback the runs are not encrypted unless --encrypt (nothing
crosses a network); with --to they are paired and encrypted unless both sides
say --insecure. --cost adds what SHA-256 and encryption cost here, apart.
UDP --lossy makes one pass, so its "verified" column says no whenever it lost
something: that loss is the measurement.

Examples:
  pasa bench                                   # TCP, UDP and UDP --lossy on loopback
  pasa bench --to lab-3                        # lab-3 runs: pasa receive --keep --udp
  pasa bench --to lab-3 --reverse              # ...and lab-3 sends to us
  pasa bench --rates 100M,500M,1G,2G --chart bench.svg
  pasa bench --duration 5 --json > bench.json
  pasa bench --receivers 4 --size 1GiB         # one to many: each of 4 runs pasa receive --code CODE
${EXIT_CODES}`,
    )
    .action((o: Record<string, unknown>) => {
      const c: BenchCommand = {
        kind: "bench",
        size: sizeFlag(String(o.size), "--size"),
        rates: o.rates === undefined
          ? []
          : String(o.rates).split(",").filter((r) => r.trim() !== "").map(
            (r) => parseRate(r, "--rates"),
          ),
        intervalSeconds: positiveSeconds(String(o.interval), "--interval"),
        reverse: o.reverse === true,
        insecure: o.insecure === true,
        encrypt: o.encrypt === true,
        cost: o.cost === true,
        csv: o.csv === true,
        runs: parseCount(String(o.runs), "--runs", 100),
        parallel: parseCount(String(o.parallel), "--parallel", 128),
        timeoutMs: parseTimeout(String(o.timeout)),
        json: o.json === true,
        quiet: o.quiet === true,
        multicast: o.multicast !== false,
        port: parsePort(String(o.port)),
      };
      if (o.receivers !== undefined) {
        c.receivers = parseCount(String(o.receivers), "--receivers", 64);
      }
      if (o.wait !== undefined) {
        c.waitSeconds = positiveSeconds(String(o.wait), "--wait");
      }
      const alone = c.receivers === undefined;
      if (
        alone &&
        (c.waitSeconds !== undefined || !c.multicast ||
          o.port !== String(DEFAULT_PORT))
      ) {
        throw new UsageError(
          "--wait, --no-multicast and --port go with --receivers",
        );
      }
      if (
        !alone &&
        (o.to !== undefined || o.reverse || o.file !== undefined ||
          o.duration !== undefined || o.rates !== undefined ||
          o.parallel !== "1" || o.runs !== "1" || o.csv ||
          o.chart !== undefined)
      ) {
        throw new UsageError(
          "--receivers measures one payload sent once to a group: not with --to, --reverse, --file, --duration, --rates, --parallel, --runs, --csv or --chart",
        );
      }
      if (c.encrypt && c.insecure) {
        throw new UsageError("Choose one of --encrypt and --insecure");
      }
      if (c.csv && c.json) {
        throw new UsageError("Choose one of --csv and --json");
      }
      if (o.datagramSize !== undefined) {
        c.datagramSize = parseDatagramSize(String(o.datagramSize));
      }
      if (o.to !== undefined) c.to = parseAddress(String(o.to));
      if (o.file !== undefined) c.file = String(o.file);
      if (o.duration !== undefined) {
        c.durationSeconds = positiveSeconds(String(o.duration), "--duration");
      }
      if (o.chart !== undefined) c.chart = String(o.chart);
      if (o.code !== undefined) c.code = String(o.code);
      if (o.link !== undefined) c.link = parseRate(String(o.link), "--link");
      checkSecurity(c);
      if (c.file && c.parallel > 1) {
        throw new UsageError("--file sends one real file: not with --parallel");
      }
      if (c.file && (c.durationSeconds !== undefined || o.size !== "256MiB")) {
        throw new UsageError(
          "--file sends the whole file: not with --size or --duration",
        );
      }
      if (c.durationSeconds !== undefined && o.size !== "256MiB") {
        throw new UsageError("Choose one of --size and --duration");
      }
      done(c);
    });
  return program;
}

function positiveSeconds(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) {
    throw new UsageError(
      `Invalid ${flag} ${
        JSON.stringify(text)
      }: expected a number of seconds above 0`,
    );
  }
  return n;
}

function parseCount(text: string, flag: string, max = Infinity): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n < 1 || n > max) {
    throw new UsageError(
      `Invalid ${flag} ${JSON.stringify(text)}: expected a whole number ${
        max === Infinity ? "of at least 1" : `from 1 to ${max}`
      }`,
    );
  }
  return n;
}

function parseRetry(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n > 100) {
    throw new UsageError(
      `Invalid --retry ${JSON.stringify(text)}: expected 0 to 100 attempts`,
    );
  }
  return n;
}

function parseDatagramSize(text: string): number {
  const n = Number(text);
  if (
    !/^\d+$/.test(text.trim()) || n < DATAGRAM_SIZE_MIN || n > DATAGRAM_SIZE_MAX
  ) {
    throw new UsageError(
      `Invalid --datagram-size ${
        JSON.stringify(text)
      }: expected ${DATAGRAM_SIZE_MIN} to ${DATAGRAM_SIZE_MAX} bytes`,
    );
  }
  return n;
}

function checkReceive(c: ReceiveCommand, o: Record<string, unknown>): void {
  if (c.onePort && !c.udp) {
    throw new UsageError("--one-port goes with --udp");
  }
  if (c.udp && (c.from || c.stdout || c.raw)) {
    throw new UsageError(
      "--udp needs a listening receiver writing files: not with --from, --stdout or --raw",
    );
  }
  if (c.stdout && c.keep) {
    throw new UsageError("--stdout takes one file; it cannot go with --keep");
  }
  if (c.stdout && c.json) {
    throw new UsageError("--stdout carries the file; it cannot go with --json");
  }
  if (c.stdout && o.out !== ".") {
    throw new UsageError("Choose one of --stdout and --out");
  }
  if (c.from && c.keep) {
    throw new UsageError(
      "--keep serves many senders; it cannot go with --from",
    );
  }
  if (c.from && (o.host !== undefined || o.port !== String(DEFAULT_PORT))) {
    throw new UsageError(
      "--from connects out; --port and --host are for listening",
    );
  }
  if (c.raw && c.keep) {
    throw new UsageError("--raw takes one file; it cannot go with --keep");
  }
  if (c.raw && !c.name && !c.stdout) {
    throw new UsageError(
      "--raw needs --name NAME or --stdout: the classic format carries no file name",
    );
  }
  if (!c.raw && c.name) {
    throw new UsageError(
      "--name on receive is for --raw; pasa's protocol carries names",
    );
  }
}

function checkSend(c: SendCommand, o: Record<string, unknown>): void {
  if (c.to && c.listen) {
    throw new UsageError("Choose one of --to (connect) and --listen (wait)");
  }
  // Without --to, the receiver is found by its code's number on the LAN.
  if (!c.to && !c.listen && (c.insecure || c.raw)) {
    throw new UsageError(
      "Where to? Give --to HOST[:PORT] (a receiver is found by its code alone, and --insecure and --raw have none)",
    );
  }
  if (!c.listen && (o.host !== undefined || o.port !== String(DEFAULT_PORT))) {
    throw new UsageError(
      "--port and --host are for --listen; put the port in --to HOST:PORT",
    );
  }
  if (!c.listen && c.noAnnounce) {
    throw new UsageError(
      "--no-announce is for --listen: a sender that connects announces nothing",
    );
  }
  if (c.raw && c.paths.length !== 1) {
    throw new UsageError("--raw sends exactly one file");
  }
  if (
    !c.udp && c.receivers === undefined &&
    (c.lossy || c.rate !== undefined || c.datagramSize !== undefined)
  ) {
    throw new UsageError("--rate, --datagram-size and --lossy go with --udp");
  }
  if (
    c.receivers === undefined &&
    (c.waitSeconds !== undefined || !c.multicast || c.minRate !== undefined)
  ) {
    throw new UsageError(
      "--wait, --no-multicast and --min-rate go with --receivers",
    );
  }
  if (c.receivers !== undefined) {
    if (!c.listen) {
      throw new UsageError(
        "--receivers waits for them: give --listen too (each receiver runs pasa receive --code CODE)",
      );
    }
    if (c.raw || c.lossy || c.paths.includes("-") || c.retry > 0) {
      throw new UsageError(
        "--receivers sends files of known size to a group: not with --raw, --lossy, --retry or standard input",
      );
    }
  }
  if (
    c.udp && c.receivers === undefined &&
    (c.listen || c.raw || c.paths.includes("-"))
  ) {
    throw new UsageError(
      "--udp sends files of known size to a listening receiver: not with --listen, --raw or standard input",
    );
  }
}

function usageMessage(text: string): string {
  const oneLine = text.trim().replace(/^error:\s*/, "").replace(
    /\s*\n\s*/g,
    " ",
  );
  return oneLine.charAt(0).toUpperCase() + oneLine.slice(1);
}

/**
 * Parses the arguments after `pasa`. Returns the command, or help/version
 * text to print; throws UsageError for anything the user must fix.
 */
export function parseArgs(args: readonly string[]): Command {
  const sink = { out: "", err: "" };
  let command: Command | undefined;
  const program = buildProgram(sink, (c) => (command = c));
  if (args.length === 0) {
    return {
      kind: "text",
      text: program.helpInformation(),
      exitCode: ExitCode.usage,
    };
  }
  // `pasa help send` is `pasa send --help`, with its examples.
  const words = args[0] === "help" ? [...args.slice(1), "--help"] : [...args];
  try {
    program.parse(words, { from: "user" });
  } catch (error) {
    if (error instanceof UsageError) throw error;
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) {
        return { kind: "text", text: sink.out, exitCode: 0 };
      }
      throw new UsageError(usageMessage(sink.err || error.message), {
        cause: error,
      });
    }
    throw error;
  }
  if (command === undefined) {
    throw new UsageError("No command given: try pasa --help");
  }
  return command;
}

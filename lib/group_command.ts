/**
 * `pasa send PATH... --listen --receivers N`: waits for receivers to pair,
 * each on its own connection with the same code, then sends to all of
 * them at once through one {@link UdpGroup} (PROTOCOL.md section 15), and
 * says each receiver's outcome.
 *
 * @module
 */

import type { SendCommand } from "./cli.ts";
import { AuthError, ExitCode, exitCodeOf } from "./errors.ts";
import { writeControl } from "./frames.ts";
import { UdpGroup } from "./group_send.ts";
import { SLOW_RULE } from "./group.ts";
import { Reporter } from "./report.ts";
import { ProgressTicker } from "./progress_events.ts";
import {
  INSECURE_WARNING,
  progressFor,
  type Runtime,
  securityHint,
  setNoDelay,
} from "./runtime.ts";
import { LOCKOUT_FAILURES, type Pairing, PairingGate } from "./secure.ts";
import { sendSession } from "./send.ts";
import type { Source } from "./sources.ts";
import type { Pattern } from "./pattern.ts";

/** What is sent: a walk of the command line's paths, or a generated payload. */
type Walked = AsyncIterable<Source> & { sources: Source[] };
import { isIpv6, isLoopback, listen, reachableAddresses } from "./tcp.ts";
import { Announcer, nameplateOf } from "./discovery.ts";
import { type Incoming, takePairings } from "./pairings.ts";
import { udpDefaults } from "./udp_sizing.ts";

/** How often receivers that joined hear that the group still gathers (their deadline is longer). */
const WAIT_EVERY_MS = 2000;

/** `pasa send --listen --receivers N`: returns the exit code; throws on failure to start. */
export async function sendToGroup(
  cmd: SendCommand,
  rt: Runtime,
  sources: Walked,
  pairing: Pairing | undefined,
  reporter: Reporter,
  measure?: Pattern,
): Promise<number> {
  const wanted = cmd.receivers!;
  const listener = listen(cmd.host, cmd.port);
  const addr = listener.addr as Deno.NetAddr;
  const nameplate = pairing?.code ? nameplateOf(pairing.code) : null;
  const announce = nameplate !== null && cmd.host === undefined &&
    !cmd.noAnnounce && rt.env("PASA_DISCOVERY") !== "off";
  reporter.listening({
    host: addr.hostname,
    port: addr.port,
    announced: announce,
    addresses: reachableAddresses(addr.hostname),
    command: `pasa receive --from ADDR${securityHint(pairing, false)}`,
    role: "sender",
    raw: false,
    code: pairing?.code ?? null,
  });
  if (cmd.insecure) reporter.warning(INSECURE_WARNING);
  // Enter on the terminal starts with whoever joined (not when the
  // terminal is also what is sent: `pasa send -`).
  const enter = sources.sources.some((s) => s.local === null)
    ? undefined
    : rt.enterPressed;
  reporter.groupGathering(wanted, cmd.waitSeconds, enter !== undefined);
  const announcer = announce
    ? Announcer.start(
      { role: "sender", nameplate: nameplate!, port: addr.port, udp: false },
      (why) =>
        reporter.warning(
          `Cannot announce this sender on the network (${why}): receivers need --from`,
        ),
    )
    : undefined;
  let joined: Incoming[];
  try {
    // Listed before anyone joins: every receiver gets the same manifest.
    for await (const _ of sources) {
      /* walked once, kept in sources.sources */
    }
    joined = await gather(listener, cmd, rt, pairing, reporter, enter);
  } finally {
    announcer?.stop();
    listener.close();
  }
  return await sendAll(joined, cmd, rt, sources, addr.port, measure);
}

/**
 * Takes receivers until `--receivers` of them paired, or `--wait` passed
 * with at least one, or Enter was pressed with at least one (connections
 * pair side by side, lib/pairings.ts). Wrong codes are told and let go;
 * after {@link LOCKOUT_FAILURES} of them nobody else may join, and the
 * group starts with those who did (a guesser gets that many tries, as at a
 * `--keep` receiver). A receiver whose connection fails while the group
 * gathers (its `wait` frame cannot be written) is no longer counted.
 */
function gather(
  listener: Deno.Listener,
  cmd: SendCommand,
  rt: Runtime,
  pairing: Pairing | undefined,
  reporter: Reporter,
  enter?: () => Promise<void>,
): Promise<Incoming[]> {
  const wanted = cmd.receivers!;
  const gate = new PairingGate(LOCKOUT_FAILURES);
  return new Promise((resolve, reject) => {
    const joined: Incoming[] = [];
    let over = false;
    let deadlinePassed = false;
    const left = (j: Incoming, error: unknown) => {
      const i = joined.indexOf(j);
      if (over || i < 0) return;
      joined.splice(i, 1);
      j.link.close();
      reporter.groupLeft(
        j.peer,
        (error as Error).message,
        joined.length,
        wanted,
      );
    };
    const tell = () => {
      for (const j of [...joined]) {
        writeControl(j.link, {
          type: "wait",
          joined: joined.length,
          receivers: wanted,
        }).catch((error) => left(j, error));
      }
    };
    const pressed = () => {
      enter?.().then(() => {
        if (over) return;
        if (joined.length === 0) {
          reporter.warning(
            "Nobody has joined yet: Enter starts the group once someone has",
          );
          return pressed();
        }
        end(() => resolve(joined));
      });
    };
    pressed();
    const ticker = setInterval(tell, WAIT_EVERY_MS);
    const deadline = cmd.waitSeconds === undefined ? undefined : setTimeout(
      () => {
        deadlinePassed = true;
        if (joined.length > 0) end(() => resolve(joined));
      },
      cmd.waitSeconds * 1000,
    );
    const end = (then: () => void) => {
      if (over) return;
      over = true;
      clearInterval(ticker);
      clearTimeout(deadline);
      stop();
      then();
    };
    const stop = takePairings(
      listener,
      {
        timeoutMs: cmd.timeoutMs,
        rt,
        pairing: pairing && { ...pairing, gate },
      },
      {
        paired: (p) => {
          joined.push(p);
          reporter.groupJoined(p.peer, joined.length, wanted);
          tell();
          if (joined.length >= wanted || deadlinePassed) {
            end(() => resolve(joined));
          }
        },
        failed: (p, error) => {
          if (rt.signal.aborted) {
            for (const j of joined) j.link.close();
            return end(() => reject(error));
          }
          reporter.warning(
            `Connection from ${p.peer} did not join: ${
              (error as Error).message
            }`,
          );
        },
        closed: () => {
          if (!gate.locked) return;
          if (joined.length > 0) {
            reporter.warning(
              `${LOCKOUT_FAILURES} wrong codes: nobody else may join; starting with ${joined.length}`,
            );
            end(() => resolve(joined));
          } else {
            end(() =>
              reject(
                new AuthError(
                  `${LOCKOUT_FAILURES} wrong codes and no receiver joined: stopped (a code is guessed one try at a time)`,
                  "locked",
                ),
              )
            );
          }
        },
        stopped: (error) => {
          for (const j of joined) j.link.close();
          end(() => reject(error));
        },
      },
    );
  });
}

/** Runs every receiver's session through one group; says each one's outcome. */
async function sendAll(
  joined: Incoming[],
  cmd: SendCommand,
  rt: Runtime,
  sources: Walked,
  port: number,
  measure: Pattern | undefined,
): Promise<number> {
  for (const j of joined) setNoDelay(j.conn);
  const remote = (j: Incoming) => (j.conn.remoteAddr as Deno.NetAddr).hostname;
  const local = joined.every((j) => isLoopback(remote(j)));
  const defaults = udpDefaults(
    local,
    false,
    cmd.datagramSize,
    joined.some((j) => isIpv6(remote(j))),
  );
  const group = new UdpGroup({
    port,
    datagramSize: defaults.datagramSize,
    slotsPerDatagram: defaults.slotsPerDatagram,
    initialRate: defaults.initialRate,
    ...(cmd.rate !== undefined ? { rate: cmd.rate } : {}),
    sealed: joined[0]!.link.pairing !== undefined,
    multicast: cmd.multicast,
    ...(measure ? { pattern: true } : {}),
    rule: { ...SLOW_RULE, floor: cmd.minRate ?? 0 },
    // Said through the progress bar's output, which clears its line first.
    onEvent: (e) =>
      e.type === "unicast"
        ? say.warning(
          `The group's datagrams do not reach ${e.receiver} (multicast filtered on the way?): sending to it by unicast`,
        )
        : e.type === "no-multicast"
        ? say.warning(
          `Cannot send to the multicast group from this machine (${e.reason}): sending to each receiver by unicast`,
        )
        : say.warning(`Dropped ${e.receiver}: ${e.reason}`),
  });
  const { bar, output } = progressFor(rt, cmd.quiet, group.state);
  const say = new Reporter(output, { json: cmd.json, quiet: cmd.quiet });
  say.groupStart(joined.length, cmd.multicast ? group.address : null);
  const files = sources.sources.filter((s) => s.entry.type === "file");
  group.state.setManifest(sources.sources.map((s) => s.entry));
  bar?.start();
  // --json: where the group is, at most once a second, as for one receiver.
  const ticker = cmd.json
    ? new ProgressTicker(group.state, (e) => say.progress(e))
    : undefined;
  ticker?.start();
  const started = performance.now();
  const outcomes = await Promise.all(joined.map(async (j) => {
    const seat = group.seat(j.peer, j.link);
    try {
      const result = await sendSession(j.link, sources.sources, {
        handshaken: j.frames,
        peer: j.peer,
        // What a receiver has whole it keeps; a part starts over (the
        // group sends each file once, to everyone who lacks it).
        wholeFilesOnly: true,
        check: cmd.check,
        keepFiles: false,
        udp: {
          ...defaults,
          lossy: false,
          target: { hostname: remote(j), port },
        },
        group: seat,
        // A measurement: compared where it lands, nothing kept.
        ...(measure ? { bench: true, pattern: measure } : {}),
      });
      return {
        peer: j.peer,
        ok: true as const,
        result,
        ended: performance.now(),
      };
    } catch (error) {
      seat.leave(error);
      // Dropped by the group: that is why, whatever its session saw next.
      return {
        peer: j.peer,
        ok: false as const,
        error: seat.dropped ? seat.why : error,
      };
    } finally {
      j.link.close();
    }
  }));
  bar?.stop();
  ticker?.stop();
  group.close();
  // Times run from the group's first datagram: not the pairing, nor the
  // wait for every receiver's user to accept.
  const from = group.state.startedAt >= 0 ? group.state.startedAt : started;
  const seconds = Math.max(0, performance.now() - from) / 1000;
  const bytes = files.reduce(
    (sum, s) => sum + (s.entry.type === "file" ? s.entry.size ?? 0 : 0),
    0,
  );
  for (const o of outcomes) {
    say.groupOutcome(
      o.peer,
      o.ok
        ? {
          ok: true,
          files: o.result.fileCount,
          bytes: o.result.bytes,
          sentBytes: o.result.sentBytes,
          check: o.result.patternChecked ? "pattern" : "sha256",
          seconds: Math.min(
            o.result.seconds,
            Math.max(0, o.ended - from) / 1000,
          ),
          ...(o.result.udp
            ? { firstPassLossPercent: o.result.udp.firstPassLossPercent }
            : {}),
        }
        : { ok: false, error: o.error },
    );
  }
  const ok = outcomes.filter((o) => o.ok).length;
  let delivered = 0;
  let alreadyThere = 0;
  for (const o of outcomes) {
    if (!o.ok) continue;
    delivered += o.result.sentBytes;
    alreadyThere += o.result.bytes - o.result.sentBytes;
  }
  say.groupSummary({
    receivers: outcomes.length,
    verified: ok,
    files: files.length,
    bytes,
    alreadyThere,
    delivered,
    seconds,
    datagrams: group.datagramsSent,
    multicast: group.multicast,
    encrypted: joined[0]!.link.pairing !== undefined,
    ...(measure ? { measurement: true } : {}),
  });
  if (ok === outcomes.length) return ExitCode.ok;
  // The exit code of the first failure: all the same kind, as a rule.
  const first = outcomes.find((o) => !o.ok)!;
  return first.ok ? ExitCode.ok : exitCodeOf(first.error);
}

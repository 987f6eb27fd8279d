/**
 * The bugs `deno task mutants` plants (scripts/mutants.ts), one at a time:
 * the first eight are the ones a review planted (issue 11) that every test
 * then passed; the rest guard the hardening that followed. Each names the
 * code it changes exactly, so a test (tests/mutants_test.ts) fails when
 * that code moves and the mutant would plant nothing.
 *
 * @module
 */

/** One planted bug: `from` becomes `to` in `file`; `tests` should fail. */
export interface Mutant {
  file: string;
  from: string;
  to: string;
  tests: string[];
}

export const MUTANTS: Mutant[] = [
  {
    file: "lib/manifest.ts",
    from: "    checkWirePath(entry.path, options.windows ?? false);",
    to:
      '    if (entry.type === "file") checkWirePath(entry.path, options.windows ?? false);',
    tests: ["liars_test.ts", "safety_test.ts"],
  },
  {
    file: "lib/resume.ts",
    from: "    if (claim.offset !== 0 && claim.offset !== prefix.offset) {",
    to: "    if (false) {",
    tests: ["hostile_test.ts"],
  },
  {
    file: "lib/resume.ts",
    from: "    if (answer.offset !== 0 && answer.offset !== claim.offset) {",
    to: "    if (false) {",
    tests: ["liars_test.ts"],
  },
  {
    file: "lib/send.ts",
    from: "        if (item === undefined || item.sha256 !== message.sha256) {",
    to: "        if (item === undefined) {",
    tests: ["liars_test.ts"],
  },
  {
    file: "lib/send.ts",
    from: "    if (files.count + incomplete !== fileCount) {",
    to: "    if (false) {",
    tests: ["liars_test.ts"],
  },
  {
    file: "lib/records.ts",
    from:
      "    if (length <= TAG || length > RECORD_MAX + TAG) throw recordFailed();",
    to: "    if (length <= TAG) throw recordFailed();",
    tests: ["secure_test.ts"],
  },
  {
    file: "lib/secure.ts",
    from: "      gate?.end(ok || !exposed);",
    to: "      gate?.end(ok);",
    tests: ["liars_test.ts", "pairing_test.ts"],
  },
  {
    file: "lib/secure.ts",
    from: "export const LOCKOUT_FAILURES = 5;",
    to: "export const LOCKOUT_FAILURES = 6;",
    tests: ["pairing_test.ts"],
  },
  {
    file: "lib/udp_send.ts",
    from:
      "        const length = (n - 1) * payload + slotLength(size, payload, s + n - 1);",
    to: "        const length = n * payload;",
    tests: ["udp_test.ts"],
  },
  {
    file: "lib/names.ts",
    from: "  if (!path.isWellFormed()) {",
    to: "  if (false) {",
    tests: ["hostile_test.ts"],
  },
  {
    file: "lib/names.ts",
    from: "    if (segment.toLowerCase().endsWith(PART_SUFFIX)) {",
    to: "    if (false) {",
    tests: ["hostile_test.ts"],
  },
  {
    file: "lib/names.ts",
    from: "  if (segments.length > MAX_DEPTH) {",
    to: "  if (false) {",
    tests: ["hostile_test.ts"],
  },
  {
    file: "lib/runtime.ts",
    from: "        onTrouble(error);",
    to: "        throw error;",
    tests: ["hostile_test.ts"],
  },
  {
    file: "lib/runtime.ts",
    from: "        if (!oneConnection && failures > 0) {",
    to: "        if (failures > 0) {",
    tests: ["hostile_test.ts"],
  },
  {
    file: "lib/manifest.ts",
    from:
      '    if (entry.type === "file" && next.key.startsWith(here.key + "\\u0000")) {',
    to: "    if (false) {",
    tests: ["hostile_test.ts", "safety_test.ts"],
  },
  {
    file: "lib/manifest.ts",
    from: "    if (next.key === here.key) {",
    to: "    if (false) {",
    tests: ["hostile_test.ts", "safety_test.ts"],
  },
  {
    file: "lib/fsio.ts",
    from:
      "      now === null || !now.isFile || now.ino !== opened.ino ||\n      now.dev !== opened.dev",
    to: "      false",
    tests: ["hostile_test.ts"],
  },
  {
    file: "lib/manifest.ts",
    from: "    footprint += size > 0 ? size : ENTRY_COST;",
    to: "    footprint += size;",
    tests: ["hostile_test.ts"],
  },
  {
    file: "lib/receive.ts",
    from: "    if (memory + cost > MAX_MANIFEST_MEMORY) {",
    to: "    if (false) {",
    tests: ["hostile_test.ts"],
  },
  {
    file: "lib/admission.ts",
    from: '        if (held.state !== "unpaired" || this.full) return false;',
    to: '        if (held.state !== "unpaired") return false;',
    tests: ["load_test.ts", "hostile_test.ts", "admission_test.ts"],
  },
  {
    file: "lib/admission.ts",
    from:
      "    if (own.length >= this.maxUnpairedPerPeer) this.#dropOldest(peer);",
    to: "    if (false) this.#dropOldest(peer);",
    tests: ["hostile_test.ts", "admission_test.ts"],
  },
  {
    file: "lib/admission.ts",
    from: "    } else if (this.#unpairedCount >= this.maxUnpaired) {",
    to: "    } else if (false) {",
    tests: ["hostile_test.ts", "admission_test.ts"],
  },
  {
    file: "lib/receive.ts",
    from: '        link.ensureOpen("creating directories");',
    to: "        void 0;",
    tests: ["hostile_test.ts"],
  },
  {
    file: "lib/fsio.ts",
    from: "        mode: (mode & 0o777) | 0o600,",
    to: "        mode: 0o644,",
    tests: ["hostile_test.ts"],
  },
  {
    file: "lib/secure.ts",
    from: "    pairing.onShare?.();",
    to: "    void 0;",
    tests: ["hostile_test.ts", "load_test.ts"],
  },
  {
    file: "lib/names.ts",
    from:
      "      (code >= 0x202a && code <= 0x202e) || (code >= 0x2066 && code <= 0x2069)",
    to: "      false",
    tests: ["names_test.ts", "hostile_test.ts"],
  },
  {
    file: "lib/messages.ts",
    from:
      '        v.pipe(count, v.maxValue(MAX_MTIME, "must be before the year 10000")),',
    to: "        count,",
    tests: ["hostile_test.ts"],
  },
  {
    file: "lib/udp_bodies.ts",
    from: "    const fresh = () => state.doneBytes + counters.passing;",
    to: "    const fresh = () => counters.received;",
    tests: ["hostile_test.ts"],
  },
  {
    file: "lib/receive.ts",
    from:
      "          resume.starts = settled; // the first file opens at its start",
    to: "          void settled;",
    tests: ["resume_test.ts"],
  },
  {
    file: "lib/udp_send.ts",
    from:
      '    ensureOpen: () => {\n      link.ensureOpen("sending datagrams");\n      inbox.ensureOpen();\n    },',
    to: "    ensureOpen: () => {},",
    tests: ["udp_test.ts"],
  },
  {
    file: "lib/udp.ts",
    from: "          Math.min(this.#max, target, ceiling),",
    to: "          Math.min(this.#max, target),",
    tests: ["udp_unit_test.ts"],
  },
  {
    file: "lib/udp_send.ts",
    from: "      if (isKept(first + k)) {",
    to: "      if (false && isKept(first + k)) {",
    tests: ["resume_test.ts"],
  },
  {
    file: "lib/hash.ts",
    from: "      if (allZero(bytes)) {",
    to: "      if (false && allZero(bytes)) {",
    tests: ["hash_test.ts"],
  },
  {
    file: "lib/udp_sizing.ts",
    from: "    slotsPerDatagram: datagramSize !== undefined || lossy",
    to: "    slotsPerDatagram: datagramSize !== undefined",
    tests: ["udp_test.ts"],
  },
  {
    file: "lib/udp_bodies.ts",
    from: "        probes: counters.probes,",
    to: "",
    tests: ["udp_test.ts"],
  },
  {
    file: "lib/udp_bodies.ts",
    from: "        this.#ctx.options.onKept?.(",
    to: "        ((..._: unknown[]) => {})(",
    tests: ["udp_test.ts"],
  },
  {
    file: "lib/udp_sizing.ts",
    from: "    if (!lopsided) {",
    to: "    if (!lopsided && false) {",
    tests: ["udp_sizing_test.ts"],
  },
  {
    file: "lib/udp_receive.ts",
    from: "      !Number.isInteger(slot) || n < 1 || n > this.#perDatagram ||",
    to: "      !Number.isInteger(slot) || n < 1 ||",
    tests: ["udp_receive_test.ts"],
  },
  {
    file: "lib/udp.ts",
    from: "    const over = loss > floor + BACK_OFF_ABOVE;",
    to: "    const over = loss > BACK_OFF_ABOVE;",
    tests: ["udp_unit_test.ts"],
  },
  // Issue 13: numbers that say what happened.
  {
    file: "lib/accounting.ts",
    from: "    bytesPerSecond: sentBytes > 0 ? rate(sentBytes, seconds) : 0,",
    to: "    bytesPerSecond: rate(bytes, seconds),",
    tests: ["accounting_test.ts", "resume_test.ts"],
  },
  {
    file: "lib/udp_bodies.ts",
    from: "      this.#endpoint.malformed - this.#strayBefore +",
    to: "      this.#endpoint.malformed +",
    tests: ["udp_test.ts"],
  },
  {
    file: "lib/pattern.ts",
    from: "      if (!theirs.equals(this.bytes.subarray(at, at + n))) {",
    to: "      if (false) {",
    tests: ["pattern_test.ts", "bench_test.ts"],
  },
  {
    file: "lib/intervals.ts",
    from: "      if (tail.end - tail.start < this.#period / 2) {",
    to: "      if (false) {",
    tests: ["intervals_test.ts"],
  },
  {
    file: "lib/receive_command.ts",
    from: "        : { noMeasurements: ONE_SHOT_BENCH }),",
    to: "        : { scratch }),",
    tests: ["bench_test.ts"],
  },
  {
    file: "lib/bench.ts",
    from: "        : sentRate >= 0.95 * offered,",
    to: "        : true,",
    tests: ["bench_report_test.ts", "bench_test.ts"],
  },
  {
    file: "lib/udp_send.ts",
    from: "    hash.update(piece);\n    return piece;",
    to: "    return piece;",
    tests: ["resume_test.ts"],
  },
  // Issue 14: group commit.
  {
    file: "lib/receive.ts",
    from:
      "      await commitGroup(); // what is held goes first: file-oks in manifest order",
    to: "",
    tests: ["many_files_test.ts"],
  },
  {
    file: "lib/receive.ts",
    from:
      "        if (await quietFor(readable, GROUP_WAIT_MS)) await commitGroup();",
    to: "",
    tests: ["fuzz_test.ts"],
  },
  {
    file: "lib/send.ts",
    from: "      await transport.flush();",
    to: "",
    tests: ["many_files_test.ts"],
  },
  // Issue 14: files taken unchanged, by size and time.
  {
    file: "lib/resume.ts",
    from: "      if (!prefix.unchanged || claim.offset !== prefix.offset) {",
    to: "      if (false) {",
    tests: ["hostile_test.ts"],
  },
  {
    file: "lib/resume.ts",
    from: "    entry.mtime !== undefined && there.mtime === entry.mtime;",
    to: "    entry.mtime !== undefined;",
    tests: ["resume_test.ts"],
  },
  // Issue 13: the receiving kernel's drops, for this transfer only.
  {
    file: "lib/net_counters.ts",
    from: "      after.udpRcvbufErrors - before.udpRcvbufErrors,",
    to: "      after.udpRcvbufErrors,",
    tests: ["net_counters_test.ts"],
  },
  // Issue 15: a receiver that cannot write leaves nothing behind.
  {
    file: "lib/fsio.ts",
    from: "      if (!existed) await Deno.remove(this.root).catch(() => {});",
    to: "",
    tests: ["setup_test.ts"],
  },
  // Issue 15: finding the receiver by its code, and a receiver's set-up.
  {
    file: "lib/commands.ts",
    from: "  if (found.length > 1) {",
    to: "  if (false) {",
    tests: ["lab_test.ts"],
  },
  {
    file: "lib/receive_command.ts",
    from: "    serving.onPaired?.();",
    to: "",
    tests: ["lab_test.ts"],
  },
  {
    file: "lib/tcp.ts",
    from: "  return [bound];",
    to: "  return lanAddresses();",
    tests: ["setup_test.ts"],
  },
  {
    file: "lib/receive_command.ts",
    from: "  if (/^\\s*(y|yes)?\\s*$/i.test(answer)) return true;",
    to: "  return true;",
    tests: ["setup_test.ts"],
  },
  // Issue 14: results kept only when asked for.
  {
    file: "lib/accounting.ts",
    from: "    if (this.#keep) this.files.push(f);",
    to: "    this.files.push(f);",
    tests: ["accounting_test.ts"],
  },
  {
    // the pacer spins through its short waits again
    file: "lib/udp_send.ts",
    from: "        else if (this.#nap && waitMs > NAP_SLACK_MS) {",
    to: "        else if (this.#nap && waitMs < 0) {",
    tests: ["pacer_test.ts"],
  },
  {
    // UDP slots are no longer counted toward the background write-back
    file: "lib/udp_receive.ts",
    from: "      this.onWritten?.(run.length);",
    to: "",
    tests: ["udp_receive_test.ts"],
  },
  {
    // a lone lossy interval backs off again
    file: "lib/udp.ts",
    from: "    const spike = over && !this.#slowStart && !this.#wasOver &&",
    to:
      "    const spike = false && over && !this.#slowStart && !this.#wasOver &&",
    tests: ["udp_unit_test.ts"],
  },
  {
    // a cleared path is tested again at every lopsided window
    file: "lib/udp_sizing.ts",
    from: "(this.#cleared ? RETEST_AFTER : 1)",
    to: "1",
    tests: ["udp_sizing_test.ts"],
  },
  {
    // a window waits for 100 probes however long it takes
    file: "lib/udp_sizing.ts",
    from: "    if (probesSent < MIN_PROBES && !long) return undefined;",
    to: "    if (probesSent < MIN_PROBES) return undefined;",
    tests: ["udp_sizing_test.ts"],
  },
  {
    // a side looking for another hears either role
    file: "lib/discovery.ts",
    from: "      if (a?.nameplate !== nameplate || a.role !== role) continue;",
    to: "      if (a?.nameplate !== nameplate) continue;",
    tests: ["lab_test.ts"],
  },
  {
    // a sender waiting with --listen does not announce itself
    file: "lib/commands.ts",
    from: "    const announce = nameplate !== null && !cmd.raw &&",
    to: "    const announce = false && nameplate !== null && !cmd.raw &&",
    tests: ["lab_test.ts"],
  },
  {
    // one side heard over IPv4 and IPv6 counts twice
    file: "lib/discovery.ts",
    from: "    if (id === undefined) sides.push(hit);",
    to: "    if (true) sides.push(hit);",
    tests: ["discovery_test.ts", "lab_test.ts"],
  },
  {
    // a link-local address found without its interface
    file: "lib/discovery.ts",
    from:
      '          heard(a, scope && !host.includes("%") ? `${host}%${scope}` : host);',
    to: "          heard(a, host);",
    tests: ["lab_test.ts"],
  },
  {
    // a waiting sender ends at the first stranger
    file: "lib/commands.ts",
    from: "        if (refused) end(() => reject(error));",
    to: "        end(() => reject(error));",
    tests: ["transfer_test.ts"],
  },
  {
    // a --keep receiver's thread is stopped while it paces a measurement back
    file: "lib/udp_send.ts",
    from: "    this.#nap = !options.shared;",
    to: "    this.#nap = true;",
    tests: ["pacer_test.ts"],
  },
  {
    // every file gets its line however many there are
    file: "lib/report.ts",
    from: "    if (every || said < LISTED_FILES) reporter.file(file);",
    to: "    if (true) reporter.file(file);",
    tests: ["many_files_test.ts"],
  },
  {
    // a waiting sender lets guesses at its code run side by side
    file: "lib/commands.ts",
    from:
      "  const guarded = pairing && { ...pairing, gate: new PairingGate(1) };",
    to: "  const guarded = pairing;",
    tests: ["pairing_test.ts"],
  },
  {
    // the sender waits for each file-ok before it sends the next file
    file: "lib/send.ts",
    from: "          await transport.end(end);\n        }\n        index++;",
    to:
      "          await transport.end(end);\n          await transport.flush();\n          for (let i = 0; i < 4000 && pending.has(index); i++) await new Promise((r) => setTimeout(r, 5));\n        }\n        index++;",
    tests: ["conformance_test.ts"],
  },
  // Issue 16: one definition per message.
  {
    // resume ranges need not be sorted and apart
    file: "lib/messages.ts",
    from: "        if (length === 0 || start <= end) return false;",
    to: "        if (length === 0) return false;",
    tests: ["protocol_test.ts", "conformance_test.ts", "hostile_test.ts"],
  },
  {
    // a claim past 0 may leave out its digest
    file: "lib/messages.ts",
    from:
      "      (m) => m.unchanged === true || m.offset === 0 || m.sha256 !== undefined,",
    to: "      (m) => true,",
    tests: ["protocol_test.ts", "conformance_test.ts", "liars_test.ts"],
  },
  {
    // unknown members are kept instead of dropped
    file: "lib/messages.ts",
    from: '    v.object({\n      type: v.literal("done"),',
    to: '    v.looseObject({\n      type: v.literal("done"),',
    tests: ["protocol_test.ts"],
  },
  // One sender, many receivers (issue 17).
  {
    file: "lib/group.ts",
    from: "    if (current && from <= current[1]) {",
    to: "    if (current && from < current[0]) {",
    tests: ["group_test.ts"],
  },
  {
    file: "lib/group.ts",
    from: "      if (now - since >= this.#rule.graceMs) out.push",
    to: "      if (true) out.push",
    tests: ["group_test.ts"],
  },
  {
    file: "lib/group_send.ts",
    from:
      '      ? [{ transport: "udp", hostname: this.address, port: options.port }]',
    to: "      ? []",
    tests: ["group_lab_test.ts"],
  },
  {
    file: "lib/group_send.ts",
    from: "    this.#path.targets.push(seat.target);\n    if (fallback) {",
    to: "    if (fallback) {",
    tests: ["group_test.ts", "group_lab_test.ts"],
  },
  {
    file: "lib/group_send.ts",
    from: "    hangUp(link, { report: error, lingerMs: 1000 })",
    to: "    Promise.resolve()",
    tests: ["group_lab_test.ts"],
  },
  {
    file: "lib/receive.ts",
    from:
      "        // Each word from a sender gathering its group is a new deadline.\n        liftDeadline();",
    to:
      "        // Each word from a sender gathering its group is a new deadline.",
    tests: ["group_test.ts"],
  },
  {
    file: "lib/receive.ts",
    from:
      "    if ((request.group.key !== undefined) !== (link.pairing !== undefined)) {",
    to: "    if (false) {",
    tests: ["group_test.ts"],
  },
  {
    file: "lib/udp_bodies.ts",
    from: "request.group?.transfer ?? endpoint.newTransferId()",
    to: "endpoint.newTransferId()",
    tests: ["group_test.ts"],
  },
  {
    file: "lib/group_send.ts",
    from: "        count === 0 || first + count > this.#slots",
    to: "        false",
    tests: ["group_test.ts"],
  },
  {
    file: "lib/group_send.ts",
    from: "      const over = ++seat.rounds > MAX_GROUP_ROUNDS",
    to: "      const over = ++seat.rounds > Infinity",
    tests: ["group_test.ts"],
  },
  {
    file: "lib/group_send.ts",
    from: "await withDeadline(answer, PASS_ANSWER_MS)",
    to: "await answer",
    tests: ["group_test.ts"],
  },
  {
    file: "lib/receive_command.ts",
    from: "      ...(cmd.keep || serving.outgoing",
    to: "      ...(cmd.keep",
    tests: ["group_test.ts"],
  },
  {
    file: "lib/group_send.ts",
    from: "      ...(options.pattern ? { newHash: noDigest } : {}),",
    to: "",
    tests: ["group_test.ts"],
  },
  {
    file: "lib/send.ts",
    from: "      await withDeadline(replies, REPLY_GRACE_MS).catch(() => {});",
    to: "      await replies.catch(() => {});",
    tests: ["lab_test.ts"],
  },
  {
    file: "lib/group_seat.ts",
    from: "expected: m.expected - this.skipped.under(m.expected)",
    to: "expected: m.expected",
    tests: ["group_test.ts"],
  },
  {
    file: "lib/udp_send.ts",
    from: "await repair(one.ranges, one.to);",
    to: "await repair(one.ranges);",
    tests: ["group_test.ts"],
  },
  {
    file: "lib/group_send.ts",
    from: "addressed: this.#path.sequence - s.skipped.total,",
    to: "addressed: this.#path.sequence,",
    tests: ["group_test.ts"],
  },
  {
    file: "lib/group_command.ts",
    from: "}).catch((error) => left(j, error));",
    to: "}).catch(() => {});",
    tests: ["group_test.ts"],
  },
  {
    file: "lib/group_command.ts",
    from: "    : rt.enterPressed;",
    to: "    : undefined;",
    tests: ["group_test.ts"],
  },
  {
    file: "lib/group_send.ts",
    from: '      if (seat.status !== "joining" || !seat.link) continue;',
    to: "      continue;",
    tests: ["group_test.ts"],
  },
  {
    file: "lib/group_send.ts",
    from:
      "      unreachable: (target, error) => this.#unreachable(target, error),",
    to: "",
    tests: ["group_lab_test.ts"],
  },
  {
    file: "lib/receive.ts",
    from: '    if (local.includes(":") && !/^::ffff:\\d/.test(local)) {',
    to: "    if (false) {",
    tests: ["group_test.ts"],
  },
  {
    file: "lib/group_send.ts",
    from:
      "      this.#expel(seat, error as PasaError); // which takes its address out\n      return [];",
    to: "      return undefined;",
    tests: ["group_lab_test.ts"],
  },
  {
    file: "lib/udp_receive.ts",
    from: "    this.#catchUp(unwritten);",
    to: "",
    tests: ["udp_receive_test.ts"],
  },
  {
    file: "lib/udp.ts",
    from: "    if (this.#lastExpected === 0) this.#lastAt = at;",
    to: "",
    tests: ["udp_unit_test.ts"],
  },
  {
    file: "lib/lanes.ts",
    from: "      if (blocked) {",
    to: "      if (false) {",
    tests: ["lanes_test.ts", "lab_test.ts"],
  },
  {
    file: "lib/udp_bodies.ts",
    from: "          ports: this.#lanes.map((lane) =>",
    to: "          portz: this.#lanes.map((lane) =>",
    tests: ["conformance_test.ts"],
  },
  {
    file: "lib/payload.ts",
    from:
      "    const turn = this.#busy.then(() => this.#readAt(position, into));",
    to: "    const turn = this.#readAt(position, into);",
    tests: ["payload_test.ts"],
  },
  {
    file: "lib/udp_bodies.ts",
    from:
      "    if (!this.#request.earlyRepair || this.#request.lossy || !current) return;",
    to: "    if (this.#request.lossy || !current) return;",
    tests: ["conformance_test.ts"],
  },
  {
    file: "lib/udp_receive.ts",
    from:
      "    this.#askedTo = holes.length >= limit && last ? last[0] + last[1] : to;",
    to: "",
    tests: ["udp_receive_test.ts"],
  },
  {
    file: "lib/udp_send.ts",
    from: "      udp.early?.push(m);\n      return;",
    to: "      udp.early?.push(m);",
    tests: ["udp_unit_test.ts"],
  },
  {
    file: "lib/udp_send.ts",
    from: "      if (ranges.length === 0 || bytes > earlyBudget) continue;",
    to: "      if (ranges.length === 0) continue;",
    tests: ["udp_send_test.ts"],
  },
  // Doing it twice: re-sends of what is already there.
  {
    file: "lib/resume.ts",
    from: "      if (!prefix.unchanged || claim.offset !== prefix.offset) {",
    to: "      if (!prefix.unchanged) {",
    tests: ["hostile_test.ts"],
  },
  {
    file: "lib/receive.ts",
    from: "  if (present.size === 0 || dest.force) return;",
    to: "  if (present.size >= 0 || dest.force) return;",
    tests: ["resend_test.ts", "hostile_test.ts"],
  },
  {
    file: "lib/resume.ts",
    from: "    if (options.udp && answer.offset === size) {",
    to: "    if (false) {",
    tests: ["resend_test.ts"],
  },
  {
    file: "lib/resume.ts",
    from:
      "    if (options.wholeAsIs && prefix.whole && start === prefix.offset) {",
    to: "    if (false) {",
    tests: ["resend_test.ts"],
  },
  {
    file: "lib/hash.ts",
    from: "      if (inPrefix && start + bytes.length === size) break;",
    to: "",
    tests: ["resend_test.ts"],
  },
  {
    file: "lib/group_send.ts",
    from: "    const seats = inside.filter((s) => s.at === index);",
    to: "    const seats = inside;",
    tests: ["resend_test.ts"],
  },
  {
    file: "lib/group_seat.ts",
    from: "    this.#group.finished(this.#seat);",
    to: "",
    tests: ["group_test.ts"],
  },
  {
    file: "lib/udp_send.ts",
    from: "      inbox.ensureOpen();",
    to: "",
    tests: ["udp_test.ts"],
  },
  {
    file: "lib/udp_receive.ts",
    from: '        "disk",\n        { cause: this.#error },',
    to: '        "io",\n        { cause: this.#error },',
    tests: ["disk_test.ts"],
  },
  {
    file: "lib/udp_receive.ts",
    from: "      this.#cut(this.#runStart);",
    to: "",
    tests: ["disk_test.ts"],
  },
  {
    file: "lib/resume.ts",
    from: "    const parts = !options.wholeFilesOnly && !options.udp?.lossy;",
    to: "    const parts = !options.wholeFilesOnly;",
    tests: ["udp_test.ts"],
  },
  {
    file: "lib/receive.ts",
    from: "        !request?.lossy,",
    to: "        true,",
    tests: ["udp_test.ts"],
  },
  {
    file: "lib/udp_bodies.ts",
    from: "      await current.part.discard();",
    to: "      await current.part.keep();",
    tests: ["udp_test.ts"],
  },
  {
    file: "lib/send.ts",
    from:
      "      reply = await whileAsked(link, reader.readControl(), reply.timeoutMs);",
    to: "      reply = await reader.readControl();",
    tests: ["setup_test.ts"],
  },
  {
    file: "lib/receive.ts",
    from:
      "    // The data's own time starts now: not the user's answer.\n    started = performance.now();",
    to: "",
    tests: ["setup_test.ts"],
  },
  {
    file: "lib/link.ts",
    from: "    setTimeout(() => this.close(), INTERRUPT_GRACE_MS);",
    to: "    this.close();",
    tests: ["transfer_test.ts"],
  },
  {
    file: "lib/sender_tokens.ts",
    from: "      old.end();",
    to: "",
    tests: ["resume_test.ts"],
  },
  {
    file: "lib/sender_tokens.ts",
    from: "    const old = this.#held.get(token);",
    to: "    const old = [...this.#held.values()][0];",
    tests: ["hostile_test.ts"],
  },
  // Issue 28: trust in a shared room.
  {
    file: "lib/pairings.ts",
    from: "      const refused = failedPairing(error);",
    to: "      const refused = true;",
    tests: ["hostile_test.ts"],
  },
  {
    file: "lib/receive_command.ts",
    from: "  return paired || failedPairing(error);",
    to:
      '  return paired || failedPairing(error) || (error as { code?: string }).code === "version";',
    tests: ["hostile_test.ts"],
  },
  {
    file: "lib/admission.ts",
    from: "    if (k.shown < this.#burst && room) {",
    to: "    if (k.shown < this.#burst) {",
    tests: ["admission_test.ts"],
  },
  {
    file: "lib/admission.ts",
    from: "        if (count > most) [widest, most] = [network, count];",
    to:
      "        if (count > most) [widest, most] = [prefixOf(this.#unpaired.keys().next().value!), count];",
    tests: ["admission_test.ts"],
  },
  {
    file: "lib/admission.ts",
    from:
      "    else if ((this.#prefixes.get(prefix) ?? 0) >= this.maxUnpairedPerPrefix) {",
    to: "    else if (false) {",
    tests: ["admission_test.ts"],
  },
  {
    file: "lib/hash.ts",
    from: "  while (done < length) {\n    stop?.();",
    to: "  while (done < length) {",
    tests: ["hostile_test.ts"],
  },
  {
    file: "lib/frames.ts",
    from:
      "    if (this.#inFlight) await this.#inFlight.catch(() => {});\n    if (n > this.#buf.length) this.#grow();",
    to: "",
    tests: ["frames_test.ts"],
  },
  {
    file: "lib/messages.ts",
    from: "        if (count === 0 || first < end) return false;",
    to: "        if (count === 0) return false;",
    tests: ["protocol_test.ts"],
  },
  {
    file: "lib/udp_send.ts",
    from: "    if (rounds > (ctx.maxRepairRounds ?? Infinity)) {",
    to: "    if (false) {",
    tests: ["udp_send_test.ts"],
  },
  {
    file: "lib/bench.ts",
    from:
      "      if (u.rate < REVERSE_MIN_RATE || seconds * 1000 > REVERSE_MAX_MS) {",
    to: "      if (false) {",
    tests: ["hostile_test.ts"],
  },
  {
    file: "lib/scratch.ts",
    from: "    if (totals.bytes > MEASUREMENT_MAX) {",
    to: "    if (false) {",
    tests: ["hostile_test.ts"],
  },
  {
    file: "lib/udp.ts",
    from: "    const p = Math.floor(slot / PAGE_SLOTS);\n    let page",
    to: "    const p = (slot >>> 0) >>> 16;\n    let page",
    tests: ["udp_unit_test.ts"],
  },
  {
    file: "lib/discovery.ts",
    from:
      "    if (v4.length <= 1 && v6.length <= 1) sides.push(v4[0] ?? v6[0]!);",
    to: "    sides.push(v4[0] ?? v6[0]!);",
    tests: ["discovery_test.ts"],
  },
  {
    file: "lib/receive_command.ts",
    from:
      "        if (once && (paired || !how.outgoing) && endsOneShot(error, paired)) {",
    to: "        if (once && endsOneShot(error, paired)) {",
    tests: ["lab_test.ts"],
  },
  // "Verified" means the file: a corruption planted between reading the
  // file and sending it must end in an integrity failure (exit 3).
  {
    file: "lib/udp_send.ts",
    from: "    datagram.set(bytes, UDP_HEADER);",
    to:
      "    datagram.set(bytes, UDP_HEADER);\n    if (slot === 2) datagram[UDP_HEADER] ^= 1;",
    tests: ["udp_test.ts"],
  },
  {
    file: "lib/udp_send.ts",
    from: "        await input.readAt(start, piece);",
    to: "        await input.readAt(start, piece);\n        piece[0] ^= 1;",
    tests: ["udp_test.ts"],
  },
  {
    file: "lib/udp_send.ts",
    from: "      earlyBlock ??= new Uint8Array(block.length);",
    to: "      earlyBlock ??= block;",
    tests: ["resume_test.ts", "udp_test.ts"],
  },
  {
    file: "lib/chunks.ts",
    from: "      if (head) new DataView(buf.buffer).setUint32(0, n);",
    to:
      "      if (head) new DataView(buf.buffer).setUint32(0, n);\n      if (state.fileBytes > 0) buf[head] ^= 1;",
    tests: ["transfer_test.ts"],
  },
  // Tests that can fail: a receiver that answers an error with another.
  {
    file: "lib/session.ts",
    from: "  return !(error instanceof PasaError && error.fromPeer);",
    to: "  return true;",
    tests: ["conformance_test.ts"],
  },
  // The review's planted bugs that every test passed (issue 28, item 12).
  {
    file: "lib/records.ts",
    from: "  nonce.set(datagram.subarray(16, 24), 4);",
    to: "  nonce.set(datagram.subarray(8, 16), 4);",
    tests: ["secure_test.ts"],
  },
  {
    file: "lib/secure.ts",
    from: "    return pakeFinish(state, fromHex(share), ID_A, ID_B, PAKE_AAD);",
    to: "    return pakeFinish(state, fromHex(share), ID_B, ID_A, PAKE_AAD);",
    tests: ["secure_test.ts"],
  },
  {
    file: "lib/names.ts",
    from: "    if (encoder.encode(segment).length > MAX_SEGMENT_BYTES) {",
    to: "    if (segment.length > MAX_SEGMENT_BYTES) {",
    tests: ["names_test.ts"],
  },
  {
    file: "lib/resume.ts",
    from: "      claim.rangesSha256 === prefix.rangesSha256",
    to: "      claim.rangesSha256.length === 64",
    tests: ["hostile_test.ts"],
  },
  {
    file: "lib/receive.ts",
    from: "    options.budget?.give(held);",
    to: "",
    tests: ["hostile_test.ts"],
  },
  // One group member must not hold the others.
  {
    file: "lib/group_send.ts",
    from:
      "        seat.notify(); // its session goes on: file-end, its next file",
    to: "",
    tests: ["group_test.ts"],
  },
  {
    file: "lib/group_send.ts",
    from: "        : seat.repairAsked > REPAIR_MAX_FILES * this.#slots",
    to: "        : false",
    tests: ["group_test.ts"],
  },
  {
    file: "lib/send.ts",
    from: '      ? link.deadline("confirming every file")',
    to: "      ? () => {}",
    tests: ["group_test.ts"],
  },
];

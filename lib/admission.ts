/**
 * Who gets a `--keep` receiver's attention. A connection is *unpaired*
 * until its peer proved the code (or, `--insecure`, finished the hellos),
 * and only then takes one of the `--max-connections` transfer slots.
 * Unpaired connections are held in a small pool of their own, per peer
 * address and in all: when it is full, the oldest unpaired connection of
 * the address holding the most is dropped, so strangers that connect and
 * say nothing can never lock a real sender out. Logs about any one address
 * are rate-limited. Pure bookkeeping: no sockets, no clock of its own.
 *
 * @module
 */

/** Options of {@link Admission}. */
export interface AdmissionOptions {
  /** Transfers (paired connections) served at once: `--max-connections`. */
  maxTransfers: number;
  /** Unpaired connections kept from one address. @default {32} */
  maxUnpairedPerPeer?: number;
  /**
   * Unpaired connections kept from one network ({@link prefixOf}: a /24,
   * a /64), however many addresses it uses. @default {64}
   */
  maxUnpairedPerPrefix?: number;
  /** Unpaired connections kept in all. @default {128} */
  maxUnpaired?: number;
}

/** One admitted connection. */
export interface Ticket {
  /** The peer's address (no port). */
  readonly peer: string;
  /** Waiting to pair, holding a transfer slot, or done. */
  readonly state: "unpaired" | "transfer" | "ended";
  /**
   * Marks that the peer started pairing (sent its share): from then on it
   * is dropped to make room only when no connection that said less is left.
   */
  progress(): void;
  /**
   * Moves the connection from the unpaired pool to a transfer slot, once
   * its peer paired. False when every transfer slot is taken (or the
   * connection was already dropped): refuse it as busy.
   */
  paired(): boolean;
  /** Frees whatever the connection holds; safe to call twice. */
  end(): void;
}

interface Held extends Ticket {
  state: Ticket["state"];
  progressed: boolean;
  drop: () => void;
}

/** Bookkeeping of a listening receiver's connections. */
export class Admission {
  readonly maxTransfers: number;
  readonly maxUnpairedPerPeer: number;
  readonly maxUnpairedPerPrefix: number;
  readonly maxUnpaired: number;
  #transfers = 0;
  /** Unpaired connections by address, oldest first. */
  #unpaired = new Map<string, Held[]>();
  /** How many of them each network holds. */
  #prefixes = new Map<string, number>();
  #unpairedCount = 0;
  /** Unpaired connections dropped to make room, since the start. */
  dropped = 0;

  constructor(options: AdmissionOptions) {
    this.maxTransfers = options.maxTransfers;
    this.maxUnpairedPerPeer = options.maxUnpairedPerPeer ?? 32;
    this.maxUnpairedPerPrefix = options.maxUnpairedPerPrefix ?? 64;
    this.maxUnpaired = options.maxUnpaired ?? 128;
  }

  /** Transfers in progress. */
  get transfers(): number {
    return this.#transfers;
  }

  /** Connections that have not paired yet. */
  get unpaired(): number {
    return this.#unpairedCount;
  }

  /** Whether every transfer slot is taken. */
  get full(): boolean {
    return this.#transfers >= this.maxTransfers;
  }

  /**
   * Admits a new connection from `peer`. `drop` closes it if it must make
   * room for a newer one before it pairs. Makes room first by dropping an
   * unpaired connection of the same address; past its network's share, of
   * the address of that network holding the most; when the whole pool is
   * full, of the network holding the most, and in it of the address
   * holding the most: the oldest that has not started pairing, else the
   * oldest. A flood from many addresses of one network so takes the place
   * of one network, not of every other sender's.
   */
  admit(peer: string, drop: () => void): Ticket {
    const own = this.#unpaired.get(peer) ?? [];
    const prefix = prefixOf(peer);
    if (own.length >= this.maxUnpairedPerPeer) this.#dropOldest(peer);
    else if ((this.#prefixes.get(prefix) ?? 0) >= this.maxUnpairedPerPrefix) {
      this.#dropOldest(this.#widest(prefix));
    } else if (this.#unpairedCount >= this.maxUnpaired) {
      let widest = prefix;
      let most = 0;
      for (const [network, count] of this.#prefixes) {
        if (count > most) [widest, most] = [network, count];
      }
      this.#dropOldest(this.#widest(widest));
    }
    const held: Held = {
      peer,
      state: "unpaired",
      progressed: false,
      drop,
      progress: () => {
        held.progressed = true;
      },
      paired: () => {
        if (held.state !== "unpaired" || this.full) return false;
        this.#forget(held);
        held.state = "transfer";
        this.#transfers++;
        return true;
      },
      end: () => {
        if (held.state === "unpaired") this.#forget(held);
        else if (held.state === "transfer") this.#transfers--;
        held.state = "ended";
      },
    };
    const list = this.#unpaired.get(peer);
    if (list) list.push(held);
    else this.#unpaired.set(peer, [held]);
    this.#prefixes.set(prefix, (this.#prefixes.get(prefix) ?? 0) + 1);
    this.#unpairedCount++;
    return held;
  }

  /** The address of network `prefix` holding the most unpaired connections. */
  #widest(prefix: string): string {
    let widest = "";
    let most = 0;
    for (const [address, list] of this.#unpaired) {
      if (list.length > most && prefixOf(address) === prefix) {
        [widest, most] = [address, list.length];
      }
    }
    return widest;
  }

  #dropOldest(peer: string): void {
    const list = this.#unpaired.get(peer);
    const oldest = list?.find((h) => !h.progressed) ?? list?.[0];
    if (!oldest) return;
    oldest.end();
    this.dropped++;
    oldest.drop();
  }

  #forget(held: Held): void {
    const list = this.#unpaired.get(held.peer);
    const at = list?.indexOf(held) ?? -1;
    if (!list || at < 0) return;
    list.splice(at, 1);
    if (list.length === 0) this.#unpaired.delete(held.peer);
    const prefix = prefixOf(held.peer);
    const left = (this.#prefixes.get(prefix) ?? 1) - 1;
    if (left > 0) this.#prefixes.set(prefix, left);
    else this.#prefixes.delete(prefix);
    this.#unpairedCount--;
  }
}

/**
 * The network an address is in, as one party usually holds it: the first
 * three bytes of an IPv4 address (a /24, also written as `::ffff:a.b.c.d`),
 * the first four groups of an IPv6 one (a /64). Anything else is its own.
 */
export function prefixOf(address: string): string {
  const v4 = /^(?:::ffff:)?(\d+\.\d+\.\d+)\.\d+$/i.exec(address);
  if (v4) return `${v4[1]}.0/24`;
  if (!address.includes(":")) return address;
  const [head = "", tail] = address.split("%")[0]!.split("::");
  const front = head === "" ? [] : head.split(":");
  const back = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = tail === undefined ? front : [
    ...front,
    ...Array(Math.max(0, 8 - front.length - back.length)).fill("0"),
    ...back,
  ];
  return `${
    groups.slice(0, 4).map((g) => g.toLowerCase().replace(/^0+(?=.)/, "")).join(
      ":",
    )
  }::/64`;
}

/** Options of {@link LogLimiter}. */
export interface LogLimiterOptions {
  /** Lines about one key allowed per window. @default {5} */
  burst?: number;
  /** The window, in milliseconds. @default {10000} */
  windowMs?: number;
  /** Keys remembered at most (the oldest is forgotten). @default {1024} */
  maxKeys?: number;
  /**
   * Lines about all keys together per window: a flood from many addresses
   * says a few lines, not a few per address. @default {20}
   */
  total?: number;
}

/**
 * Rate-limits log lines per key (a peer's address): `burst` lines per
 * window, then silence; the first line after the silence says how many
 * were left out.
 */
export class LogLimiter {
  #burst: number;
  #windowMs: number;
  #maxKeys: number;
  #total: number;
  #keys = new Map<string, { start: number; shown: number; hidden: number }>();
  /** Lines shown about any key in the current window. */
  #all = { start: -Infinity, shown: 0 };

  constructor(options: LogLimiterOptions = {}) {
    this.#burst = options.burst ?? 5;
    this.#windowMs = options.windowMs ?? 10_000;
    this.#maxKeys = options.maxKeys ?? 1024;
    this.#total = options.total ?? 20;
  }

  /** Whether the window of all keys together has room for one more line. */
  #room(now: number): boolean {
    if (now - this.#all.start >= this.#windowMs) {
      this.#all = { start: now, shown: 0 };
    }
    return this.#all.shown < this.#total;
  }

  /**
   * Whether to print a line about `key` at time `now` (milliseconds); when
   * it is, `hidden` is how many lines about that key were left out before.
   */
  allow(key: string, now: number): { show: boolean; hidden: number } {
    let k = this.#keys.get(key);
    const room = this.#room(now);
    if (k === undefined || now - k.start >= this.#windowMs) {
      const hidden = k?.hidden ?? 0;
      this.#keys.delete(key);
      if (this.#keys.size >= this.#maxKeys) {
        this.#keys.delete(this.#keys.keys().next().value!);
      }
      k = { start: now, shown: 0, hidden };
      this.#keys.set(key, k);
    }
    if (k.shown < this.#burst && room) {
      k.shown++;
      this.#all.shown++;
      const hidden = k.hidden;
      k.hidden = 0;
      return { show: true, hidden };
    }
    k.hidden++;
    return { show: false, hidden: 0 };
  }
}

/** Options of {@link ManifestBudget}. */
export interface ManifestBudgetOptions {
  /** Bytes all manifests in memory may take at once. @default {512 MiB} */
  total?: number;
  /** Bytes the manifests of one address may take at once. @default {256 MiB} */
  perPeer?: number;
}

/**
 * Memory for the manifests a receiver holds, counted per peer address and
 * in all, so that one peer's lists of files cannot take what the others
 * need (see {@link manifestCost} for what an entry counts).
 */
export class ManifestBudget {
  readonly total: number;
  readonly perPeer: number;
  #used = 0;
  #byPeer = new Map<string, number>();

  constructor(options: ManifestBudgetOptions = {}) {
    this.total = options.total ?? 512 * 1024 * 1024;
    this.perPeer = options.perPeer ?? 256 * 1024 * 1024;
  }

  /** Bytes taken now, in all. */
  get used(): number {
    return this.#used;
  }

  /** Takes `bytes` for `peer`; false (nothing taken) when a bound would pass. */
  take(peer: string, bytes: number): boolean {
    const mine = this.#byPeer.get(peer) ?? 0;
    if (this.#used + bytes > this.total || mine + bytes > this.perPeer) {
      return false;
    }
    this.#used += bytes;
    this.#byPeer.set(peer, mine + bytes);
    return true;
  }

  /** Gives back `bytes` taken for `peer`. */
  give(peer: string, bytes: number): void {
    const mine = (this.#byPeer.get(peer) ?? 0) - bytes;
    this.#used -= bytes;
    if (mine > 0) this.#byPeer.set(peer, mine);
    else this.#byPeer.delete(peer);
  }
}

/**
 * Safe receiving: every incoming name is checked, every file is written to
 * `NAME.pasa.part` beside its final place, synced, and renamed only once its
 * digest matched. Nothing is written outside the output directory, and no
 * symbolic link is followed or created.
 *
 * @module
 */

import { Collector } from "./heap.ts";
import { createHash } from "node:crypto";
import { statfs } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { NetworkError, RefusedError } from "./errors.ts";
import { writeAll } from "./frames.ts";
import { checkManifest, ENTRY_COST, nameKey } from "./manifest.ts";
import { displayName, MAX_SEGMENT_BYTES, PART_SUFFIX } from "./names.ts";
import type { Entry } from "./protocol.ts";
import { formatBytes } from "./units.ts";

/** What {@link Destination.vet} finds for a file already there with the announced size. */

export { PART_SUFFIX } from "./names.ts";

/** Metadata the sender sent along with a file. */
export interface FileMeta {
  /**
   * Permission bits (0 to 0o777), given to the file when it is created:
   * masked by the receiver's umask, and never without the owner's read
   * and write. Ignored on Windows.
   */
  mode?: number;
  /** Modification time, milliseconds since the Unix epoch. */
  mtime?: number;
}

/** Where one incoming file's bytes go. */
export interface FileSink {
  write(bytes: Uint8Array): Promise<void>;
  /** Makes the file durable and visible under its final name, with `meta` applied where possible. */
  commit(meta?: FileMeta): Promise<void>;
  /** Removes whatever was written; never throws. */
  discard(): Promise<void>;
}

/** Options of {@link Destination}. */
export interface DestinationOptions {
  /** Replace existing files. @default {false} */
  force?: boolean;
  /** Refuse transfers whose total is larger (bytes). @default {Infinity} */
  maxSize?: number;
  /** Also refuse names Windows cannot hold. @default {true on Windows} */
  windowsNames?: boolean;
  /**
   * Compare names case-folded and Unicode-normalised, as the file system
   * does. @default {what {@link Destination.prepare} finds out}
   */
  foldNames?: boolean;
}

async function lstatOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw ioError(`Cannot inspect ${displayName(path)}`, error);
  }
}

/** The same, without a trip to the thread pool: a small file's commit makes several. */
export function lstatSyncOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.lstatSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw ioError(`Cannot inspect ${displayName(path)}`, error);
  }
}

/**
 * Syncs a directory, so that the renames into it survive a crash. Where a
 * directory cannot be opened for that (not POSIX), the rename stands as
 * the file system keeps it.
 */
function syncDirectory(dir: string): void {
  let handle: Deno.FsFile;
  try {
    handle = Deno.openSync(dir, { read: true });
  } catch {
    return;
  }
  try {
    handle.syncSync();
  } catch (error) {
    throw ioError(
      `Cannot sync the directory ${displayName(dir)}`,
      error,
      "disk",
    );
  } finally {
    handle.close();
  }
}

export function ioError(
  what: string,
  cause: unknown,
  code = "io",
): NetworkError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new NetworkError(`${what}: ${detail}`, code, { cause });
}

const encoder = new TextEncoder();

/**
 * Whether the file system of `dir` compares names without case or Unicode
 * normalisation (macOS, Windows, casefold directories): found out by
 * creating a probe file and looking for it under another spelling.
 */
async function foldsNames(dir: string): Promise<boolean> {
  const stem = `.pasa-probe-${crypto.randomUUID()}-`;
  const probe = join(dir, `${stem}a\u00e9`);
  try {
    const file = await Deno.open(probe, { write: true, createNew: true });
    file.close();
  } catch {
    return Deno.build.os !== "linux"; // cannot write here: the write will say
  }
  try {
    const other = [`${stem}A\u00e9`, `${stem}ae\u0301`];
    for (const name of other) {
      if (await lstatOrNull(join(dir, name)) !== null) return true;
    }
    return false;
  } finally {
    await Deno.remove(probe).catch(() => {});
  }
}

/** Refuses a manifest whose footprint passes `--max-size`. */
export function checkMaxSize(
  totals: { bytes: number; footprint: number },
  maxSize: number,
): void {
  if (totals.footprint > maxSize) {
    const why = totals.footprint > totals.bytes
      ? ` (each directory and empty file counts ${formatBytes(ENTRY_COST)})`
      : "";
    throw new RefusedError(
      `Refusing ${
        formatBytes(totals.footprint)
      }: over the receiver's --max-size of ${formatBytes(maxSize)}${why}`,
      "too-large",
    );
  }
}

/** Refuses a manifest whose footprint passes the free space in `dir`. */
export async function checkSpace(dir: string, total: number): Promise<void> {
  if (total === 0) return;
  let free: number;
  try {
    const s = await statfs(dir);
    free = Number(s.bavail) * Number(s.bsize);
  } catch {
    return; // no statfs on this platform: the write itself will say
  }
  if (total > free) {
    throw new RefusedError(
      `Refusing ${formatBytes(total)}: only ${formatBytes(free)} free in ${
        displayName(dir)
      }`,
      "no-space",
    );
  }
}

/** Options of {@link Target.open}. */
export interface OpenOptions {
  /**
   * Continue the existing part after its first `resumeAt` bytes (already
   * verified by both ends). @default {0: a new part}
   */
  resumeAt?: number;
  /**
   * Keep what the part holds past `resumeAt` too (UDP: whole slots past
   * the prefix, verified by both ends). @default {false: cut it off}
   */
  keepTail?: boolean;
  /** The sender's permission bits (see {@link FileMeta.mode}). @default {0o644} */
  mode?: number;
  /** Directories this session already made or found (see {@link Target.makeDirs}). */
  known?: Set<string>;
}

/**
 * Files already under their final names with the announced size, found
 * while vetting: not clashes but candidates for skipping, with their
 * modification time (ms since the epoch, null where unknown). Two numbers,
 * not the whole look-up: a manifest may name a million of them.
 */
export type Present = Map<string, { size: number; mtime: number | null }>;

/** The names in each directory read so far (null: no such directory). */
export type Listings = Map<string, Set<string> | null>;

/** The names in directory `dir`, or null when it is not there. */
function listNames(dir: string): Set<string> | null {
  try {
    const names = new Set<string>();
    for (const e of Deno.readDirSync(dir)) names.add(e.name);
    return names;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw ioError(`Cannot list ${displayName(dir)}`, error);
  }
}

/** Where a receiving session puts files: a {@link Destination} or a `Scratch` (scratch.ts). */
export interface Target {
  readonly maxSize: number;
  /** Whether existing files may be replaced. */
  readonly force: boolean;
  /**
   * Checks a whole manifest before any byte is written. Returns the file
   * paths already present with the announced size: not clashes but
   * candidates for skipping, if the sender confirms their SHA-256.
   * `storing: false`: the bodies will be checked where they land and not
   * stored (a measurement's generated payload), so no space is needed.
   */
  vet(
    entries: readonly Entry[],
    options?: { storing?: boolean },
  ): Promise<Present>;
  /** Frees what {@link vet} reserved. */
  release(entries: readonly Entry[]): void;
  /**
   * Creates a vetted directory path. `known` holds the local paths this
   * session already found to be directories, so a deep tree costs one
   * look-up per directory, not one per level per entry.
   */
  makeDirs(wirePath: string, known?: Set<string>): Promise<void>;
  open(wirePath: string, options?: OpenOptions): Promise<PartFile>;
  /** Size of a resumable `.pasa.part` of this path, or null. */
  /**
   * Size of a resumable `.pasa.part` of this path, or null. `listings`
   * (kept by the caller over a whole manifest) lets it read each directory
   * once instead of looking up every name.
   */
  partSize(wirePath: string, listings?: Listings): Promise<number | null>;
  /** Its local path. */
  partPath(wirePath: string): string;
  /** The local path of the file itself. */
  localPath(wirePath: string): string;
}

/**
 * The receiver's output directory. One instance serves every connection of
 * a receiver, so that two concurrent transfers cannot write the same name.
 */
export class Destination implements Target {
  readonly root: string;
  readonly force: boolean;
  readonly maxSize: number;
  readonly windowsNames: boolean;
  #fold: boolean | undefined;
  #busy = new Set<string>();

  constructor(root: string, options: DestinationOptions = {}) {
    this.root = root;
    this.force = options.force ?? false;
    this.maxSize = options.maxSize ?? Infinity;
    this.windowsNames = options.windowsNames ?? Deno.build.os === "windows";
    this.#fold = options.foldNames;
  }

  /** Whether names are compared case-folded and normalised here. */
  get foldNames(): boolean {
    return this.#fold ?? Deno.build.os !== "linux";
  }

  /**
   * Creates the output directory if needed (it must not be a file) and
   * finds out whether its file system folds case or normalises names.
   */
  async prepare(): Promise<void> {
    const existed = (await lstatOrNull(this.root)) !== null;
    try {
      await Deno.mkdir(this.root, { recursive: true });
    } catch (error) {
      throw ioError(
        `Cannot create output directory ${displayName(this.root)}`,
        error,
      );
    }
    // Found out now, before a code is handed out, not when a sender comes.
    const probe = join(this.root, `.pasa-probe-${crypto.randomUUID()}`);
    try {
      Deno.writeFileSync(probe, new Uint8Array(0), { createNew: true });
      Deno.removeSync(probe);
    } catch (error) {
      if (!existed) await Deno.remove(this.root).catch(() => {});
      throw ioError(`Cannot write into ${displayName(this.root)}`, error);
    }
    this.#fold ??= await foldsNames(this.root);
  }

  /** The local path of a (checked) wire path. */
  localPath(wirePath: string): string {
    return join(this.root, ...wirePath.split("/"));
  }

  /**
   * Checks a whole manifest before any byte is written and reserves its
   * names. Throws RefusedError (unsafe name, exists, too large, no space,
   * busy) or ProtocolError (duplicates, a file used as a directory).
   * Call {@link release} with the same entries when done.
   */
  async vet(entries: readonly Entry[]): Promise<Present> {
    const totals = checkManifest(entries, {
      fold: this.foldNames,
      windows: this.windowsNames,
    });
    const { footprint, keys } = totals;
    checkMaxSize(totals, this.maxSize);
    const clashes: string[] = [];
    const present: Present = new Map();
    const dirs = new Map<string, Deno.FileInfo | null>();
    const heap = new Collector(16384);
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      const clash = this.#clash(entry, dirs);
      if (typeof clash === "object") {
        present.set(entry.path, {
          size: clash.size,
          mtime: clash.mtime?.getTime() ?? null,
        });
      } else if (clash) clashes.push(clash);
      // Looked up without the thread pool (a trip there costs more than
      // the look-up), but other transfers get their turn now and then.
      if (i % 1024 === 1023) await new Promise((r) => setTimeout(r, 0));
      heap.tick(); // each look-up leaves garbage behind
    }
    if (clashes.length > 0) {
      const shown = clashes.slice(0, 5).join("; ");
      const more = clashes.length > 5 ? ` and ${clashes.length - 5} more` : "";
      throw new RefusedError(
        `Refusing to overwrite: ${shown}${more}`,
        "exists",
      );
    }
    await checkSpace(this.root, footprint);
    const busy = keys.findIndex((k) => this.#busy.has(k));
    if (busy >= 0) {
      throw new RefusedError(
        `Refusing ${
          displayName(entries[busy]!.path)
        }: another transfer is writing it`,
        "busy",
      );
    }
    for (const key of keys) this.#busy.add(key);
    return present;
  }

  /** Frees the names {@link vet} reserved. */
  release(entries: readonly Entry[]): void {
    for (const entry of entries) {
      this.#busy.delete(nameKey(entry.path, this.foldNames));
    }
  }

  /**
   * Why an entry cannot be written where it would go, or undefined. `dirs`
   * remembers what each parent turned out to be, for the whole manifest.
   */
  #clash(
    entry: Entry,
    dirs: Map<string, Deno.FileInfo | null>,
  ): string | Deno.FileInfo | undefined {
    const segments = entry.path.split("/");
    let path = this.root;
    for (let i = 0; i < segments.length; i++) {
      path = join(path, segments[i]!);
      const last = i === segments.length - 1;
      let info = last ? undefined : dirs.get(path);
      if (info === undefined) {
        info = lstatSyncOrNull(path);
        if (!last) dirs.set(path, info);
      }
      if (info === null) return undefined;
      const shown = displayName(segments.slice(0, i + 1).join("/"));
      if (info.isSymlink) {
        return `${shown} is a symbolic link (pasa never follows one)`;
      }
      if (!last || entry.type === "dir") {
        if (!info.isDirectory) return `${shown} exists and is not a directory`;
      } else if (info.isDirectory) {
        return `${shown} exists and is a directory`;
      } else if (
        entry.type === "file" && info.isFile && info.size === entry.size
      ) {
        return info; // maybe this very file, from an earlier run: the sender will tell
      } else if (!this.force) {
        return `${shown} exists (pasa receive --force replaces it)`;
      }
    }
    return undefined;
  }

  /** Creates the directories of a vetted wire path, one level at a time. */
  makeDirs(
    wirePath: string,
    known: Set<string> = new Set(),
  ): Promise<void> {
    try {
      this.#makeDirs(wirePath, known);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Synchronously: a folder of a thousand folders is two thousand look-ups
   * and creations, each cheaper than a trip to the thread pool.
   */
  #makeDirs(wirePath: string, known: Set<string>): void {
    let path = this.root;
    for (const segment of wirePath.split("/")) {
      path = join(path, segment);
      if (known.has(path)) continue;
      const info = lstatSyncOrNull(path);
      if (info?.isDirectory) {
        known.add(path);
        continue;
      }
      if (info !== null) {
        throw new RefusedError(
          `Cannot create directory ${displayName(wirePath)}: ${
            displayName(path)
          } is in the way`,
          "exists",
        );
      }
      try {
        Deno.mkdirSync(path);
      } catch (error) {
        if (!(error instanceof Deno.errors.AlreadyExists)) {
          throw ioError(
            `Cannot create directory ${displayName(wirePath)}`,
            error,
          );
        }
      }
      known.add(path);
    }
  }

  /**
   * The local path of a file's `.pasa.part`: `NAME.pasa.part` beside it,
   * or, where that would pass the 255-byte limit of a name, the start of
   * NAME, `~`, and 16 hex digits of its SHA-256: still one fixed name per
   * file, so that an interrupted transfer can be resumed.
   */
  partPath(wirePath: string): string {
    const local = this.localPath(wirePath);
    const slash = wirePath.lastIndexOf("/");
    const name = wirePath.slice(slash + 1);
    const bytes = encoder.encode(name);
    if (bytes.length + PART_SUFFIX.length <= MAX_SEGMENT_BYTES) {
      return local + PART_SUFFIX;
    }
    const tag = "~" +
      createHash("sha256").update(bytes).digest("hex").slice(0, 16);
    let keep = MAX_SEGMENT_BYTES - PART_SUFFIX.length - tag.length;
    // Cut on a character boundary: never inside a UTF-8 sequence.
    while (keep > 0 && (bytes[keep]! & 0xc0) === 0x80) keep--;
    const short = new TextDecoder().decode(bytes.subarray(0, keep));
    return local.slice(0, local.length - name.length) + short + tag +
      PART_SUFFIX;
  }

  /**
   * The size of a `.pasa.part` left by an interrupted transfer of this
   * (vetted) path, or null if there is none (or it is not a regular file).
   */
  async partSize(
    wirePath: string,
    listings?: Listings,
  ): Promise<number | null> {
    const path = this.partPath(wirePath);
    // Where names are compared as they are written, a directory's listing
    // says which parts exist: a fresh folder of 100,000 files costs one
    // read per directory, not a look-up per file.
    if (listings && !this.foldNames) {
      const dir = dirname(path);
      let names = listings.get(dir);
      if (names === undefined) {
        names = listNames(dir);
        listings.set(dir, names);
      }
      if (!names?.has(basename(path))) return null;
      const info = lstatSyncOrNull(path);
      return info?.isFile ? info.size : null;
    }
    const info = await lstatOrNull(path);
    return info?.isFile ? info.size : null;
  }

  /**
   * Opens the `.pasa.part` of a vetted file path, making its parent
   * directories; with `resumeAt`, continues the existing part.
   */
  async open(wirePath: string, options: OpenOptions = {}): Promise<PartFile> {
    const resumeAt = options.resumeAt ?? 0;
    const mode = options.mode ?? 0o644;
    const slash = wirePath.lastIndexOf("/");
    if (slash > 0) {
      await this.makeDirs(wirePath.slice(0, slash), options.known);
    }
    const finalPath = this.localPath(wirePath);
    const partPath = this.partPath(wirePath);
    if (resumeAt > 0 || options.keepTail) {
      try {
        const file = await Deno.open(partPath, { read: true, write: true });
        if (!options.keepTail) await file.truncate(resumeAt);
        await file.seek(resumeAt, Deno.SeekMode.Start);
        return new PartFile(file, partPath, finalPath, wirePath, this.force);
      } catch (error) {
        throw ioError(`Cannot continue ${displayName(partPath)}`, error);
      }
    }
    // createNew is O_EXCL: it never follows a link planted at that name.
    // The sender's mode is given here, where the umask applies to it, and
    // never later through a path that someone could swap for a link. Opened
    // without a trip to the thread pool: for a folder of small files, the
    // round trips of opening are most of the time.
    const create = () =>
      Deno.openSync(partPath, {
        read: true,
        write: true,
        createNew: true,
        mode: (mode & 0o777) | 0o600,
      });
    let file: Deno.FsFile;
    try {
      try {
        file = create();
      } catch (error) {
        if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
        const stale = await lstatOrNull(partPath);
        if (stale !== null && !stale.isFile) {
          throw new RefusedError(
            `Cannot receive ${displayName(wirePath)}: ${
              displayName(partPath)
            } exists and is not a regular file`,
            "exists",
          );
        }
        // A leftover of an interrupted transfer: ours by its name.
        await Deno.remove(partPath).catch(() => {});
        file = create();
      }
    } catch (error) {
      if (error instanceof RefusedError) throw error;
      throw ioError(`Cannot create ${displayName(partPath)}`, error);
    }
    return new PartFile(file, partPath, finalPath, wirePath, this.force);
  }
}

/** Pieces up to this size are written synchronously. */
const SMALL_WRITE = 64 * 1024;

/** Bytes written between background write-back requests. */
const SYNC_EVERY = 64 * 1024 * 1024;

/** A file being received as `NAME.pasa.part`. */
export class PartFile implements FileSink {
  #open = true;
  #unsynced = 0;
  #syncing: Promise<void> | undefined;
  constructor(
    readonly file: Deno.FsFile,
    readonly partPath: string,
    readonly finalPath: string,
    readonly wirePath: string,
    readonly force: boolean,
  ) {}

  async write(bytes: Uint8Array): Promise<void> {
    try {
      // A small piece costs less written at once than through the thread
      // pool; a large one is written asynchronously, so that the network
      // is read meanwhile.
      if (bytes.length <= SMALL_WRITE) {
        for (let done = 0; done < bytes.length;) {
          done += this.file.writeSync(bytes.subarray(done));
        }
      } else await writeAll(this.file, bytes);
    } catch (error) {
      // "disk": a full or failing disk; the .part is kept for resuming later.
      throw ioError(
        `Cannot write ${displayName(this.wirePath)}`,
        error,
        "disk",
      );
    }
    this.wrote(bytes.length);
  }

  /**
   * Counts bytes written to the file (by {@link write}, or straight through
   * the handle, as UDP slots are) and, every 64 MiB, starts writing them
   * back in the background, so that the fsync before the rename waits for
   * the tail only and not for the whole file.
   */
  wrote(bytes: number): void {
    this.#unsynced += bytes;
    if (this.#unsynced >= SYNC_EVERY) this.writeBack();
  }

  /**
   * Starts writing back what is written so far, in the background, so that
   * the sync before the rename has less left to wait for (a UDP body, whose
   * slots are written by position, calls it once every slot is in).
   */
  writeBack(): void {
    if (!this.#open || this.#syncing !== undefined) return;
    this.#unsynced = 0;
    this.#syncing = this.file.syncData().catch(() => {}).finally(() => {
      this.#syncing = undefined;
    });
  }

  /**
   * Puts the file under its final name, durably: its time, its bytes
   * synced, the rename, then its directory synced, so that a crash after
   * this returns leaves the file whole under its final name.
   */
  async commit(meta: FileMeta = {}): Promise<void> {
    await PartFile.commitAll([[this, meta]]);
  }

  /**
   * Commits many files at once (group commit): every file's bytes synced
   * with the syncs in flight together, then each renamed, then each
   * directory synced once. A crash on the way leaves every file either
   * whole under its final name or as its `.pasa.part`, never a torn file
   * under the final name. Stops at the first failure: files before it
   * are committed, the rest stay `.pasa.part` files.
   */
  static async commitAll(items: [PartFile, FileMeta][]): Promise<void> {
    const opened = await Promise.all(
      items.map(([part, meta]) => part.#durable(meta)),
    );
    const dirs = new Set<string>();
    for (const [k, [part]] of items.entries()) {
      part.#publish(opened[k]!);
      dirs.add(dirname(part.finalPath));
    }
    for (const dir of dirs) syncDirectory(dir);
  }

  /** Its time, then its bytes synced, then closed; returns what it is. */
  async #durable(meta: FileMeta): Promise<Deno.FileInfo> {
    try {
      await this.#syncing;
      // Through the handle, before the sync, so that the time is as durable
      // as the bytes (the mode was given when the file was created).
      // The time and the look-up without the thread pool (a trip there
      // costs more than either); the syncs of a group run at once.
      if (meta.mtime !== undefined) {
        this.file.utimeSync(new Date(), new Date(meta.mtime));
      }
      await this.file.sync();
      return this.file.statSync();
    } catch (error) {
      throw ioError(`Cannot sync ${displayName(this.wirePath)}`, error, "disk");
    } finally {
      this.#close();
    }
  }

  /** Renames the synced `.part` (`opened`) to its final name. */
  #publish(opened: Deno.FileInfo): void {
    // The rename goes by path: make sure the path still names the file we
    // wrote, not something a local user put in its place.
    const now = lstatSyncOrNull(this.partPath);
    if (
      now === null || !now.isFile || now.ino !== opened.ino ||
      now.dev !== opened.dev
    ) {
      throw new NetworkError(
        `Cannot finish ${
          displayName(this.wirePath)
        }: its ${PART_SUFFIX} file was replaced or removed while it was received`,
        "io",
      );
    }
    const existing = lstatSyncOrNull(this.finalPath);
    if (existing !== null && (!this.force || existing.isDirectory)) {
      throw new RefusedError(
        `Refusing to overwrite ${
          displayName(this.wirePath)
        }: it appeared during the transfer`,
        "exists",
      );
    }
    try {
      Deno.renameSync(this.partPath, this.finalPath);
    } catch (error) {
      throw ioError(`Cannot rename into ${displayName(this.wirePath)}`, error);
    }
  }

  #close(): void {
    if (!this.#open) return;
    this.#open = false;
    try {
      this.file.close();
    } catch {
      // already closed
    }
  }

  /** Syncs and closes the `.part`, left for a rerun; true: it was kept. */
  async keep(): Promise<boolean> {
    await this.#syncing;
    try {
      await this.file.sync();
    } finally {
      this.#close();
    }
    return true;
  }

  async discard(): Promise<void> {
    await this.#syncing;
    this.#close();
    await Deno.remove(this.partPath).catch(() => {});
  }
}

/** A sink that writes one file's bytes to a stream (receive --stdout). */
export class StreamSink implements FileSink {
  constructor(readonly out: { write(p: Uint8Array): Promise<number> }) {}
  async write(bytes: Uint8Array): Promise<void> {
    try {
      await writeAll(this.out, bytes);
    } catch (error) {
      throw ioError("Cannot write to standard output", error);
    }
  }
  commit(): Promise<void> {
    return Promise.resolve();
  }
  discard(): Promise<void> {
    return Promise.resolve();
  }
}

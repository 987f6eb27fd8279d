/**
 * Safe receiving: every incoming name is checked, every file is written to
 * `NAME.pasa.part` beside its final place, synced, and renamed only once its
 * digest matched. Nothing is written outside the output directory, and no
 * symbolic link is followed or created.
 *
 * @module
 */

import { statfs } from "node:fs/promises";
import { join } from "node:path";
import { NetworkError, ProtocolError, RefusedError } from "./errors.ts";
import { writeAll } from "./frames.ts";
import { checkWirePath, displayName } from "./names.ts";
import type { Entry } from "./protocol.ts";
import { formatBytes } from "./units.ts";

/** What {@link Destination.vet} finds for a file already there with the announced size. */
const PRESENT = "present";

/** Suffix of files being received. */
export const PART_SUFFIX = ".pasa.part";

/** Metadata the sender sent along with a file. */
export interface FileMeta {
  /** Permission bits (0 to 0o777); applied except on Windows. */
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
}

async function lstatOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw ioError(`Cannot inspect ${displayName(path)}`, error);
  }
}

function ioError(what: string, cause: unknown, code = "io"): NetworkError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new NetworkError(`${what}: ${detail}`, code, { cause });
}

/** Where a receiving session puts files: a {@link Destination} or a {@link Scratch}. */
export interface Target {
  readonly maxSize: number;
  /** Whether existing files may be replaced. */
  readonly force: boolean;
  /**
   * Checks a whole manifest before any byte is written. Returns the file
   * paths already present with the announced size: not clashes but
   * candidates for skipping, if the sender confirms their SHA-256.
   */
  vet(entries: readonly Entry[]): Promise<Set<string>>;
  /** Frees what {@link vet} reserved. */
  release(entries: readonly Entry[]): void;
  makeDirs(wirePath: string): Promise<void>;
  open(wirePath: string, resumeAt?: number): Promise<PartFile>;
  /** Size of a resumable `.pasa.part` of this path, or null. */
  partSize(wirePath: string): Promise<number | null>;
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
  #busy = new Set<string>();

  constructor(root: string, options: DestinationOptions = {}) {
    this.root = root;
    this.force = options.force ?? false;
    this.maxSize = options.maxSize ?? Infinity;
    this.windowsNames = options.windowsNames ?? Deno.build.os === "windows";
  }

  /** Creates the output directory if needed; it must not be a file. */
  async prepare(): Promise<void> {
    try {
      await Deno.mkdir(this.root, { recursive: true });
    } catch (error) {
      throw ioError(
        `Cannot create output directory ${displayName(this.root)}`,
        error,
      );
    }
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
  async vet(entries: readonly Entry[]): Promise<Set<string>> {
    const files = new Set<string>();
    const all = new Set<string>();
    let total = 0;
    for (const entry of entries) {
      checkWirePath(entry.path, this.windowsNames);
      if (all.has(entry.path)) {
        throw new ProtocolError(
          `Manifest lists ${displayName(entry.path)} twice`,
        );
      }
      all.add(entry.path);
      if (entry.type === "file") {
        files.add(entry.path);
        total += entry.size ?? 0;
      }
    }
    for (const entry of entries) {
      const segments = entry.path.split("/");
      for (let i = 1; i < segments.length; i++) {
        const parent = segments.slice(0, i).join("/");
        if (files.has(parent)) {
          throw new ProtocolError(
            `Manifest uses file ${displayName(parent)} as a directory`,
          );
        }
      }
    }
    if (total > this.maxSize) {
      throw new RefusedError(
        `Refusing ${formatBytes(total)}: over the receiver's --max-size of ${
          formatBytes(this.maxSize)
        }`,
        "too-large",
      );
    }
    const clashes: string[] = [];
    const present = new Set<string>();
    for (const entry of entries) {
      const clash = await this.#clash(entry);
      if (clash === PRESENT) present.add(entry.path);
      else if (clash) clashes.push(clash);
    }
    if (clashes.length > 0) {
      const shown = clashes.slice(0, 5).join("; ");
      const more = clashes.length > 5 ? ` and ${clashes.length - 5} more` : "";
      throw new RefusedError(
        `Refusing to overwrite: ${shown}${more}`,
        "exists",
      );
    }
    await this.#checkSpace(total);
    const busy = entries.filter((e) => this.#busy.has(e.path));
    if (busy.length > 0) {
      throw new RefusedError(
        `Refusing ${
          displayName(busy[0]!.path)
        }: another transfer is writing it`,
        "busy",
      );
    }
    for (const entry of entries) this.#busy.add(entry.path);
    return present;
  }

  /** Frees the names {@link vet} reserved. */
  release(entries: readonly Entry[]): void {
    for (const entry of entries) this.#busy.delete(entry.path);
  }

  /** Why an entry cannot be written where it would go, or undefined. */
  async #clash(entry: Entry): Promise<string | undefined> {
    const segments = entry.path.split("/");
    let path = this.root;
    for (let i = 0; i < segments.length; i++) {
      path = join(path, segments[i]!);
      const info = await lstatOrNull(path);
      if (info === null) return undefined;
      const shown = displayName(segments.slice(0, i + 1).join("/"));
      if (info.isSymlink) {
        return `${shown} is a symbolic link (pasa never follows one)`;
      }
      const last = i === segments.length - 1;
      if (!last || entry.type === "dir") {
        if (!info.isDirectory) return `${shown} exists and is not a directory`;
      } else if (info.isDirectory) {
        return `${shown} exists and is a directory`;
      } else if (
        entry.type === "file" && info.isFile && info.size === entry.size
      ) {
        return PRESENT; // maybe this very file, from an earlier run: the sender will tell
      } else if (!this.force) {
        return `${shown} exists (use --force to replace it)`;
      }
    }
    return undefined;
  }

  async #checkSpace(total: number): Promise<void> {
    if (total === 0) return;
    let free: number;
    try {
      const s = await statfs(this.root);
      free = Number(s.bavail) * Number(s.bsize);
    } catch {
      return; // no statfs on this platform: the write itself will say
    }
    if (total > free) {
      throw new RefusedError(
        `Refusing ${formatBytes(total)}: only ${formatBytes(free)} free in ${
          displayName(this.root)
        }`,
        "no-space",
      );
    }
  }

  /** Creates the directories of a vetted wire path, one level at a time. */
  async makeDirs(wirePath: string): Promise<void> {
    let path = this.root;
    for (const segment of wirePath.split("/")) {
      path = join(path, segment);
      const info = await lstatOrNull(path);
      if (info?.isDirectory) continue;
      if (info !== null) {
        throw new RefusedError(
          `Cannot create directory ${displayName(wirePath)}: ${
            displayName(path)
          } is in the way`,
          "exists",
        );
      }
      try {
        await Deno.mkdir(path);
      } catch (error) {
        if (!(error instanceof Deno.errors.AlreadyExists)) {
          throw ioError(
            `Cannot create directory ${displayName(wirePath)}`,
            error,
          );
        }
      }
    }
  }

  /** The local path of a file's `.pasa.part`. */
  partPath(wirePath: string): string {
    return this.localPath(wirePath) + PART_SUFFIX;
  }

  /**
   * The size of a `.pasa.part` left by an interrupted transfer of this
   * (vetted) path, or null if there is none (or it is not a regular file).
   */
  async partSize(wirePath: string): Promise<number | null> {
    const info = await lstatOrNull(this.partPath(wirePath));
    return info?.isFile ? info.size : null;
  }

  /**
   * Opens `NAME.pasa.part` for a vetted file path; its parents must exist.
   * With `resumeAt`, continues the existing part after its first
   * `resumeAt` bytes (already verified by both ends).
   */
  async open(wirePath: string, resumeAt = 0): Promise<PartFile> {
    const slash = wirePath.lastIndexOf("/");
    if (slash > 0) await this.makeDirs(wirePath.slice(0, slash));
    const finalPath = this.localPath(wirePath);
    const partPath = finalPath + PART_SUFFIX;
    if (resumeAt > 0) {
      try {
        const file = await Deno.open(partPath, { read: true, write: true });
        await file.truncate(resumeAt);
        await file.seek(resumeAt, Deno.SeekMode.Start);
        return new PartFile(file, partPath, finalPath, wirePath, this.force);
      } catch (error) {
        throw ioError(`Cannot continue ${displayName(partPath)}`, error);
      }
    }
    const stale = await lstatOrNull(partPath);
    if (stale !== null) {
      if (!stale.isFile) {
        throw new RefusedError(
          `Cannot receive ${displayName(wirePath)}: ${
            displayName(partPath)
          } exists and is not a regular file`,
          "exists",
        );
      }
      // A leftover of an interrupted transfer: ours by its name.
      await Deno.remove(partPath).catch(() => {});
    }
    let file: Deno.FsFile;
    try {
      // createNew is O_EXCL: it never follows a link planted at that name.
      file = await Deno.open(partPath, {
        read: true,
        write: true,
        createNew: true,
        mode: 0o644,
      });
    } catch (error) {
      throw ioError(`Cannot create ${displayName(partPath)}`, error);
    }
    return new PartFile(file, partPath, finalPath, wirePath, this.force);
  }
}

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
      await writeAll(this.file, bytes);
    } catch (error) {
      // "disk": a full or failing disk; the .part is kept for resuming later.
      throw ioError(
        `Cannot write ${displayName(this.wirePath)}`,
        error,
        "disk",
      );
    }
    this.#unsynced += bytes.length;
    if (this.#unsynced >= SYNC_EVERY && this.#syncing === undefined) {
      // Start write-back now, in the background, so that the fsync before
      // the rename waits for the tail only and not for the whole file.
      this.#unsynced = 0;
      this.#syncing = this.file.syncData().catch(() => {}).finally(() => {
        this.#syncing = undefined;
      });
    }
  }

  async commit(meta: FileMeta = {}): Promise<void> {
    try {
      await this.#syncing;
      // Before the sync, so that the metadata is as durable as the bytes.
      if (meta.mode !== undefined && Deno.build.os !== "windows") {
        await Deno.chmod(this.partPath, meta.mode & 0o777);
      }
      if (meta.mtime !== undefined) {
        await this.file.utime(new Date(), new Date(meta.mtime));
      }
      await this.file.sync();
    } catch (error) {
      throw ioError(`Cannot sync ${displayName(this.wirePath)}`, error, "disk");
    } finally {
      this.#close();
    }
    const existing = await lstatOrNull(this.finalPath);
    if (existing !== null && (!this.force || existing.isDirectory)) {
      throw new RefusedError(
        `Refusing to overwrite ${
          displayName(this.wirePath)
        }: it appeared during the transfer`,
        "exists",
      );
    }
    try {
      await Deno.rename(this.partPath, this.finalPath);
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

  /** Syncs and closes, leaving the `.part` in place (an incomplete `--lossy` file). */
  async keep(): Promise<void> {
    await this.#syncing;
    try {
      await this.file.sync();
    } finally {
      this.#close();
    }
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

/**
 * Where a measurement (`pasa bench`) goes: names are still checked and
 * every byte is still hashed by the session, but nothing is kept. UDP
 * writes land in a temporary file (page cache, never synced) that is
 * deleted once verified.
 */
export class Scratch implements Target {
  readonly maxSize = Infinity;
  readonly force = false;
  #dir: string | undefined;

  vet(entries: readonly Entry[]): Promise<Set<string>> {
    for (const entry of entries) checkWirePath(entry.path);
    return Promise.resolve(new Set());
  }

  release(): void {}

  makeDirs(): Promise<void> {
    return Promise.resolve();
  }

  partSize(): Promise<number | null> {
    return Promise.resolve(null);
  }

  partPath(wirePath: string): string {
    return wirePath;
  }

  localPath(wirePath: string): string {
    return wirePath;
  }

  async open(wirePath: string): Promise<PartFile> {
    try {
      this.#dir ??= await Deno.makeTempDir({ prefix: "pasa-bench-" });
      const path = await Deno.makeTempFile({ dir: this.#dir });
      const file = await Deno.open(path, { read: true, write: true });
      return new ScratchFile(file, path, wirePath);
    } catch (error) {
      throw ioError("Cannot create a scratch file for the measurement", error);
    }
  }

  /** Removes the scratch directory. */
  async close(): Promise<void> {
    if (this.#dir) {
      await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
    }
  }
}

class ScratchFile extends PartFile {
  constructor(file: Deno.FsFile, path: string, wirePath: string) {
    super(file, path, path, wirePath, false);
  }
  // In-order bodies (TCP) need no storage: the session hashes them as they pass.
  override write(): Promise<void> {
    return Promise.resolve();
  }
  override commit(): Promise<void> {
    return this.discard();
  }
  override keep(): Promise<void> {
    return this.discard();
  }
}

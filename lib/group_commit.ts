/**
 * Group commit: small files received whole wait, still as `.pasa.part`
 * files, until a group of them is made durable at once (every file's bytes
 * synced with the syncs in flight together, then the renames, then each
 * directory synced once), and only then is each acknowledged. One
 * `fsync` at a time per file is what made a folder of many small files
 * slow; a file still counts as delivered only once it is durable under its
 * final name (PROTOCOL.md section 5.2).
 *
 * @module
 */

import { type FileMeta, PartFile } from "./fsio.ts";

/** Files at most this large wait for a group; larger ones commit alone. */
export const GROUP_FILE_MAX = 1024 * 1024;
/** A group is committed once it holds this many files... */
export const GROUP_FILES = 256;
/** ...or this many bytes. */
export const GROUP_BYTES = 16 * 1024 * 1024;
/** ...or when nothing more arrives for this long (a sender waiting for each `file-ok`). */
export const GROUP_WAIT_MS = 5;

/**
 * Files held open across every group of this process: a `--keep` receiver
 * serving many transfers at once must not run out of file descriptors.
 */
export const HELD_FILES_MAX = 512;
let heldFiles = 0;

interface Held<T> {
  part: PartFile;
  meta: FileMeta;
  item: T;
}

/** Small files waiting to be committed together, with what to say of each. */
export class CommitGroup<T> {
  #held: Held<T>[] = [];
  #bytes = 0;

  /** Whether a file of `size` bytes waits for a group (null: unknown, no). */
  takes(size: number | null): boolean {
    return size !== null && size <= GROUP_FILE_MAX;
  }

  get size(): number {
    return this.#held.length;
  }

  /**
   * Holds a received file; true when the group is full and should be
   * committed (by count, by bytes, or because the process holds enough).
   */
  add(part: PartFile, meta: FileMeta, bytes: number, item: T): boolean {
    this.#held.push({ part, meta, item });
    this.#bytes += bytes;
    heldFiles++;
    return this.#held.length >= GROUP_FILES || this.#bytes >= GROUP_BYTES ||
      heldFiles >= HELD_FILES_MAX;
  }

  #take(): Held<T>[] {
    const held = this.#held;
    this.#held = [];
    this.#bytes = 0;
    heldFiles -= held.length;
    return held;
  }

  /** Commits every file held; returns their items in the order they came. */
  async commit(): Promise<T[]> {
    const held = this.#take();
    if (held.length === 0) return [];
    await PartFile.commitAll(held.map((h) => [h.part, h.meta]));
    return held.map((h) => h.item);
  }

  /**
   * The transfer failed: files held stay as `.pasa.part` files for a rerun
   * to confirm (`keep`), or are removed.
   */
  async release(keep: boolean): Promise<void> {
    const held = this.#take();
    for (const { part } of held) {
      await (keep ? part.keep() : part.discard()).catch(() => {});
    }
  }
}

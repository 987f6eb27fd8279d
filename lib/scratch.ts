/**
 * Where a measurement (`pasa bench`) goes: names and sizes are checked as
 * for a real destination, every byte is hashed by the session, and nothing
 * is kept.
 *
 * @module
 */

import {
  checkMaxSize,
  checkSpace,
  ioError,
  PartFile,
  type Present,
  type Target,
} from "./fsio.ts";
import { RefusedError } from "./errors.ts";
import { checkManifest } from "./manifest.ts";
import { formatBytes } from "./units.ts";
import type { Entry } from "./protocol.ts";

/** Largest measurement a receiver takes, as a `--reverse` one (lib/bench.ts). */
export const MEASUREMENT_MAX = 64 * 1024 ** 3;

/**
 * Where a measurement goes: names are still checked and
 * every byte is still hashed by the session, but nothing is kept. UDP
 * writes land in a temporary file (page cache, never synced) that is
 * deleted once verified.
 */
export class Scratch implements Target {
  readonly maxSize: number;
  readonly force = false;
  #dir: string | undefined;

  /** `maxSize`: the receiver's `--max-size`, which measurements obey too. */
  constructor(maxSize = Infinity) {
    this.maxSize = maxSize;
  }

  /**
   * Checks names as a destination would, `--max-size`, at most
   * {@link MEASUREMENT_MAX}, and the free space where the scratch file of a
   * UDP measurement goes (the system's temporary directory), unless
   * nothing will be stored.
   */
  async vet(
    entries: readonly Entry[],
    options: { storing?: boolean } = {},
  ): Promise<Present> {
    const totals = checkManifest(entries);
    checkMaxSize(totals, this.maxSize);
    // Nothing stored means no free space to bound it: a measurement of
    // terabytes would only hold the receiver (and its slot map) for hours.
    if (totals.bytes > MEASUREMENT_MAX) {
      throw new RefusedError(
        `Refusing a measurement of ${formatBytes(totals.bytes)}: at most ${
          formatBytes(MEASUREMENT_MAX)
        }`,
        "too-large",
      );
    }
    if (options.storing !== false) {
      await checkSpace(await this.#scratchDir(), totals.bytes);
    }
    return new Map();
  }

  async #scratchDir(): Promise<string> {
    try {
      return this.#dir ??= await Deno.makeTempDir({ prefix: "pasa-bench-" });
    } catch (error) {
      throw ioError("Cannot create a scratch file for the measurement", error);
    }
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
      const path = await Deno.makeTempFile({ dir: await this.#scratchDir() });
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
  /** A measurement keeps nothing, cut or not. */
  override async keep(): Promise<boolean> {
    await this.discard();
    return false;
  }
}

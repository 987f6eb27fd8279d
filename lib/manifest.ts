/**
 * Checking a whole manifest as the receiving file system will see it, in
 * time linear in its size (n log n for the sort): every name safe, no two
 * names the same once compared as stored (case-folded and normalised on
 * file systems that fold), no file used as a directory. Pure: nothing here
 * touches the disk.
 *
 * @module
 */

import { ProtocolError } from "./errors.ts";
import { checkWirePath, displayName } from "./names.ts";
import type { Entry } from "./protocol.ts";

/**
 * What a directory or an empty file counts toward `--max-size` and the
 * free-space check: the block (and inode) it takes on most file systems.
 */
export const ENTRY_COST = 4096;

/**
 * The key under which a file system stores `path`: the path itself, or,
 * where names are compared without case and Unicode normalisation (macOS,
 * Windows), its NFC form case-folded (upper then lower case, so that
 * `ß` and `SS` meet too).
 */
export function nameKey(path: string, fold: boolean): string {
  return fold
    ? path.normalize("NFC").toUpperCase().toLowerCase().normalize("NFC")
    : path;
}

/** Options of {@link checkManifest}. */
export interface ManifestCheckOptions {
  /** Compare names case-folded and normalised. @default {false} */
  fold?: boolean;
  /** Also refuse names Windows cannot hold. @default {false} */
  windows?: boolean;
}

/** What {@link checkManifest} found. */
export interface ManifestTotals {
  /** Sum of the known file sizes. */
  bytes: number;
  /** Bytes plus {@link ENTRY_COST} for each directory and empty file. */
  footprint: number;
  /** Each entry's {@link nameKey}, in manifest order. */
  keys: string[];
}

/**
 * Checks a whole manifest: throws a RefusedError (`unsafe-name`) for an
 * unsafe name, a ProtocolError for two entries with the same name (as the
 * file system compares them) or a file used as a directory.
 */
export function checkManifest(
  entries: readonly Entry[],
  options: ManifestCheckOptions = {},
): ManifestTotals {
  const fold = options.fold ?? false;
  let bytes = 0;
  let footprint = 0;
  const keys: string[] = new Array(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    checkWirePath(entry.path, options.windows ?? false);
    keys[i] = nameKey(entry.path, fold);
    const size = entry.type === "file" ? entry.size ?? 0 : 0;
    bytes += size;
    footprint += size > 0 ? size : ENTRY_COST;
  }
  // Sorted with "/" as the smallest character (control characters are
  // refused above, so NUL stands for it), every path's descendants come
  // right after it: one pass over neighbours finds duplicates and files
  // used as directories, without building every parent prefix.
  const order = keys.map((key, index) => ({
    key: key.replaceAll("/", "\u0000"),
    index,
  }));
  order.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (let k = 0; k + 1 < order.length; k++) {
    const here = order[k]!;
    const next = order[k + 1]!;
    const entry = entries[here.index]!;
    if (next.key === here.key) {
      const other = entries[next.index]!.path;
      throw new ProtocolError(
        other === entry.path
          ? `Manifest lists ${displayName(entry.path)} twice`
          : `Manifest lists ${displayName(entry.path)} and ${
            displayName(other)
          }, the same name on this receiver`,
      );
    }
    if (entry.type === "file" && next.key.startsWith(here.key + "\u0000")) {
      throw new ProtocolError(
        `Manifest uses file ${displayName(entry.path)} as a directory`,
      );
    }
  }
  return { bytes, footprint, keys };
}

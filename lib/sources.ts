/**
 * What a sender sends: command-line paths turned into manifest entries,
 * each with the local file it is read from. Directories are walked in
 * sorted order; symbolic links and special files met inside them are
 * skipped with a warning, never followed.
 *
 * @module
 */

import { Collector } from "./heap.ts";
import { basename, join, resolve } from "node:path";
import { UsageError } from "./errors.ts";
import { displayName, unsafeReason } from "./names.ts";
import type { Input } from "./payload.ts";
import { type Entry, MAX_ENTRIES, MAX_MTIME } from "./protocol.ts";

/** A full collection every this many entries listed (lib/heap.ts). */
const HEAP_EVERY = 16384;

/** One manifest entry and where its bytes come from. */
export interface Source {
  entry: Entry;
  /** Local file to read; `null` for standard input; absent for directories. */
  local?: string | null;
  /** Where the bytes come from instead of a file (a generated payload). */
  input?: () => Input;
}

/** The result of {@link collectSources}. */
export interface Collected {
  sources: Source[];
  /** Things skipped, in words, for the user. */
  warnings: string[];
}

function checkName(path: string, local: string): void {
  const reason = unsafeReason(path);
  if (reason !== undefined) {
    throw new UsageError(
      `Cannot send ${displayName(local)}: its name ${
        displayName(path)
      } would be refused (${reason})`,
    );
  }
}

/**
 * Builds the manifest for `paths` (files, directories, or `-` for standard
 * input, which needs `name`). `name` also renames a single file.
 */
export async function collectSources(
  paths: readonly string[],
  name?: string,
): Promise<Collected> {
  const sources: Source[] = [];
  const warnings: string[] = [];
  if (paths.includes("-")) {
    if (paths.length > 1) {
      throw new UsageError("Standard input (-) must be the only path to send");
    }
    if (name === undefined) {
      throw new UsageError(
        "Sending standard input needs --name NAME for the receiver",
      );
    }
    checkName(name, "-");
    return {
      sources: [{
        entry: { path: name, type: "file", size: null },
        local: null,
      }],
      warnings,
    };
  }
  if (name !== undefined && paths.length > 1) {
    throw new UsageError(
      "--name renames a single file; several paths were given",
    );
  }
  const heap = new Collector(HEAP_EVERY);
  const add = (source: Source) => {
    heap.tick(); // each look-up leaves garbage behind
    if (sources.length >= MAX_ENTRIES) {
      throw new UsageError(
        `Too many files: the protocol allows ${MAX_ENTRIES} per transfer`,
      );
    }
    sources.push(source);
  };
  for (const path of paths) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path); // follows a link named on the command line
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new UsageError(
          `Cannot send ${displayName(path)}: no such file or directory`,
        );
      }
      throw new UsageError(
        `Cannot send ${displayName(path)}: ${
          error instanceof Error ? error.message : error
        }`,
      );
    }
    const top = name ?? basename(resolve(path));
    checkName(top, path);
    if (info.isFile) {
      add({ entry: fileEntry(top, info), local: path });
    } else if (info.isDirectory) {
      add({ entry: { path: top, type: "dir" } });
      await walk(path, top, add, warnings);
    } else {
      throw new UsageError(
        `Cannot send ${displayName(path)}: not a regular file or directory`,
      );
    }
  }
  const seen = new Set<string>();
  for (const { entry } of sources) {
    if (seen.has(entry.path)) {
      throw new UsageError(
        `Two paths would arrive as ${
          displayName(entry.path)
        }: send them separately or rename one`,
      );
    }
    seen.add(entry.path);
  }
  return { sources, warnings };
}

/** A file's manifest entry, with its permission bits and mtime where known. */
function fileEntry(path: string, info: Deno.FileInfo): Entry {
  const entry: Entry = { path, type: "file", size: info.size };
  if (info.mode !== null) entry.mode = info.mode & 0o777;
  // A time the protocol cannot carry (before 1970, after 9999) is left out.
  const mtime = info.mtime?.getTime();
  if (mtime !== undefined && mtime >= 0 && mtime <= MAX_MTIME) {
    entry.mtime = Math.floor(mtime);
  }
  return entry;
}

async function walk(
  dir: string,
  wire: string,
  add: (s: Source) => void,
  warnings: string[],
): Promise<void> {
  const children: Deno.DirEntry[] = [];
  for await (const child of Deno.readDir(dir)) children.push(child);
  children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const child of children) {
    const local = join(dir, child.name);
    const path = `${wire}/${child.name}`;
    if (child.isSymlink) {
      warnings.push(
        `Skipped ${displayName(local)}: symbolic links are not followed`,
      );
      continue;
    }
    // Like a link, a name the receiver would refuse (a newline, a control
    // character...) is skipped with a warning: the rest of the folder goes.
    const reason = unsafeReason(path);
    if (reason !== undefined) {
      warnings.push(
        `Skipped ${displayName(local)}: its name cannot be sent (${reason})`,
      );
      continue;
    }
    if (child.isDirectory) {
      add({ entry: { path, type: "dir" } });
      await walk(local, path, add, warnings);
    } else if (child.isFile) {
      // Synchronously: one trip to the thread pool per file is most of the
      // time a folder of many small files takes to list.
      add({ entry: fileEntry(path, Deno.lstatSync(local)), local });
    } else {
      warnings.push(
        `Skipped ${displayName(local)}: not a regular file or directory`,
      );
    }
  }
}

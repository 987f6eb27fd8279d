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
  const warnings: string[] = [];
  const walk = await SourceWalk.plan(paths, name, (w) => warnings.push(w));
  return { sources: await walk.all(), warnings };
}

/** A command-line path, checked: what it is and the name it travels under. */
interface Top {
  path: string;
  top: string;
  info: Deno.FileInfo;
}

/**
 * The command line's paths as a walk, in manifest order. Everything that
 * can be checked before connecting is checked by {@link SourceWalk.plan}
 * (each path exists and is a file or a folder, names, standard input's
 * rules, two paths arriving under one name); folders are listed only as
 * the walk is iterated, so a manifest of 100,000 entries can start leaving
 * while they are listed. Each source walked is kept in {@link sources}
 * (its body is sent later); iterating again after a complete walk gives
 * them from there, and after an incomplete one walks again.
 */
export class SourceWalk implements AsyncIterable<Source> {
  /** Sources walked so far: all of them once {@link complete}. */
  sources: Source[] = [];
  complete = false;
  /** The first source: the single file or standard input of a `--raw` send. */
  readonly first: Source;
  /** Whether the one source is standard input. */
  readonly fromStdin: boolean;
  /** Whether it is exactly one file (or standard input), no folder. */
  readonly singleFile: boolean;
  #tops: Top[];
  #warn: (warning: string) => void;

  private constructor(
    tops: Top[],
    first: Source,
    warn: (warning: string) => void,
  ) {
    this.#tops = tops;
    this.first = first;
    this.fromStdin = first.local === null;
    this.singleFile = this.fromStdin ||
      (tops.length === 1 && first.entry.type === "file");
    this.#warn = warn;
  }

  /** Checks `paths` and plans their walk; `warn` hears what is skipped. */
  static async plan(
    paths: readonly string[],
    name: string | undefined,
    warn: (warning: string) => void,
  ): Promise<SourceWalk> {
    if (paths.includes("-")) {
      if (paths.length > 1) {
        throw new UsageError(
          "Standard input (-) must be the only path to send",
        );
      }
      if (name === undefined) {
        throw new UsageError(
          "Sending standard input needs --name NAME for the receiver",
        );
      }
      checkName(name, "-");
      const stdin: Source = {
        entry: { path: name, type: "file", size: null },
        local: null,
      };
      const walk = new SourceWalk([], stdin, warn);
      walk.sources = [stdin];
      walk.complete = true;
      return walk;
    }
    if (name !== undefined && paths.length > 1) {
      throw new UsageError(
        "--name renames a single file; several paths were given",
      );
    }
    const tops: Top[] = [];
    const seen = new Set<string>();
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
      if (!info.isFile && !info.isDirectory) {
        throw new UsageError(
          `Cannot send ${displayName(path)}: not a regular file or directory`,
        );
      }
      // Everything inside a folder travels under its top name: only top
      // names can meet.
      if (seen.has(top)) {
        throw new UsageError(
          `Two paths would arrive as ${
            displayName(top)
          }: send them separately or rename one`,
        );
      }
      seen.add(top);
      tops.push({ path, top, info });
    }
    const head = tops[0]!;
    const first: Source = head.info.isFile
      ? { entry: fileEntry(head.top, head.info), local: head.path }
      : { entry: { path: head.top, type: "dir" } };
    return new SourceWalk(tops, first, warn);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Source> {
    if (this.complete) {
      yield* this.sources;
      return;
    }
    this.sources = []; // an earlier walk stopped half-way: start over
    const heap = new Collector(HEAP_EVERY);
    const add = (source: Source) => {
      heap.tick(); // each look-up leaves garbage behind
      if (this.sources.length >= MAX_ENTRIES) {
        throw new UsageError(
          `Too many files: the protocol allows ${MAX_ENTRIES} per transfer`,
        );
      }
      this.sources.push(source);
      return source;
    };
    for (const [k, { path, top, info }] of this.#tops.entries()) {
      if (info.isFile) {
        yield add(
          k === 0 ? this.first : {
            entry: fileEntry(top, info),
            local: path,
          },
        );
      } else {
        yield add({ entry: { path: top, type: "dir" } });
        for await (const source of walk(path, top, this.#warn)) {
          yield add(source);
        }
      }
    }
    this.complete = true;
  }

  /** Walks to the end (if not done yet) and returns every source. */
  async all(): Promise<Source[]> {
    if (!this.complete) { for await (const _ of this) { /* kept as walked */ } }
    return this.sources;
  }
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

async function* walk(
  dir: string,
  wire: string,
  warn: (warning: string) => void,
): AsyncGenerator<Source> {
  const children: Deno.DirEntry[] = [];
  for await (const child of Deno.readDir(dir)) children.push(child);
  children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const child of children) {
    const local = join(dir, child.name);
    const path = `${wire}/${child.name}`;
    if (child.isSymlink) {
      warn(`Skipped ${displayName(local)}: symbolic links are not followed`);
      continue;
    }
    // Like a link, a name the receiver would refuse (a newline, a control
    // character...) is skipped with a warning: the rest of the folder goes.
    const reason = unsafeReason(path);
    if (reason !== undefined) {
      warn(
        `Skipped ${displayName(local)}: its name cannot be sent (${reason})`,
      );
      continue;
    }
    if (child.isDirectory) {
      yield { entry: { path, type: "dir" } };
      yield* walk(local, path, warn);
    } else if (child.isFile) {
      // Synchronously: one trip to the thread pool per file is most of the
      // time a folder of many small files takes to list.
      yield { entry: fileEntry(path, Deno.lstatSync(local)), local };
    } else {
      warn(`Skipped ${displayName(local)}: not a regular file or directory`);
    }
  }
}

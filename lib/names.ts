/**
 * Names on the wire: what a receiver accepts as a path, and how any name is
 * made safe to print. Pure functions; nothing here touches the disk.
 *
 * @module
 */

import { RefusedError } from "./errors.ts";

/** Longest path accepted on the wire, in UTF-8 bytes. */
export const MAX_PATH_BYTES = 4096;
/** Longest single path segment accepted, in UTF-8 bytes. */
export const MAX_SEGMENT_BYTES = 255;
/** Most path segments (directory levels, the file included) accepted. */
export const MAX_DEPTH = 128;
/** Ending reserved for files being received (`NAME.pasa.part`). */
export const PART_SUFFIX = ".pasa.part";

// C0 controls (NUL and ESC among them), DEL and C1 controls.
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const encoder = new TextEncoder();

/**
 * Why a wire path is unsafe, or `undefined` when it is a plain relative
 * path: well-formed Unicode, segments separated by `/`, none empty, `.` or
 * `..`, none ending in `.pasa.part`, at most {@link MAX_DEPTH} of them; no
 * backslash, drive letter, control character, leading `/`, or over-long
 * segment.
 */
export function unsafeReason(path: string): string | undefined {
  if (path.length === 0) return "the name is empty";
  // A lone surrogate would be stored as U+FFFD: another name than the one checked.
  if (!path.isWellFormed()) {
    return "it is not valid Unicode (a lone surrogate)";
  }
  if (CONTROL.test(path)) return "it contains a control character";
  if (path.includes("\\")) return "it contains a backslash";
  if (path.startsWith("/")) return "it is an absolute path";
  if (/^[A-Za-z]:/.test(path)) return "it starts with a drive letter";
  if (encoder.encode(path).length > MAX_PATH_BYTES) {
    return `it is longer than ${MAX_PATH_BYTES} bytes`;
  }
  const segments = path.split("/");
  if (segments.length > MAX_DEPTH) {
    return `it is more than ${MAX_DEPTH} levels deep`;
  }
  for (const segment of segments) {
    if (segment === "") return "it has an empty path segment";
    if (segment === "." || segment === "..") {
      return `it has a "${segment}" segment`;
    }
    if (encoder.encode(segment).length > MAX_SEGMENT_BYTES) {
      return `a segment is longer than ${MAX_SEGMENT_BYTES} bytes`;
    }
    if (segment.toLowerCase().endsWith(PART_SUFFIX)) {
      return `names ending in ${PART_SUFFIX} are reserved for files being received`;
    }
  }
  return undefined;
}

// Device names Windows reserves in every directory, with or without an extension.
const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$/i;
const WINDOWS_FORBIDDEN = /[<>:"|?*]/;

/**
 * Why Windows could not hold this (already safe) path, or `undefined`:
 * reserved device names (CON, NUL, COM1, ... even as `nul.txt`), a segment
 * ending in a dot or a space, or one of `< > : " | ? *`.
 */
export function windowsReason(path: string): string | undefined {
  for (const segment of path.split("/")) {
    if (WINDOWS_DEVICE.test(segment)) {
      return `${JSON.stringify(segment)} is a reserved device name on Windows`;
    }
    if (/[. ]$/.test(segment)) {
      return `${
        JSON.stringify(segment)
      } ends in a dot or a space, which Windows drops`;
    }
    if (WINDOWS_FORBIDDEN.test(segment)) {
      return `${JSON.stringify(segment)} holds a character Windows forbids`;
    }
  }
  return undefined;
}

/**
 * Throws a RefusedError (`unsafe-name`) unless {@link unsafeReason} finds
 * nothing; with `windows`, also unless {@link windowsReason} finds nothing.
 */
export function checkWirePath(path: string, windows = false): void {
  const reason = unsafeReason(path) ??
    (windows ? windowsReason(path) : undefined);
  if (reason !== undefined) {
    throw new RefusedError(
      `Refusing unsafe name ${displayName(path)}: ${reason}`,
      "unsafe-name",
    );
  }
}

/**
 * A name made safe for a terminal: control characters become `\xNN` or
 * `\u{N}` escapes, and the result is quoted when it holds spaces or escapes.
 *
 * @example
 * ```ts
 * import { displayName } from "./names.ts";
 * displayName("a\x1b[31mb"); // => '"a\\x1b[31mb"'
 * ```
 */
export function displayName(name: string): string {
  let escaped = false;
  let out = "";
  for (const ch of name) {
    const code = ch.codePointAt(0)!;
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) {
      out += `\\x${code.toString(16).padStart(2, "0")}`;
      escaped = true;
    } else if (ch === "\\" || ch === '"') {
      out += `\\${ch}`;
      escaped = true;
    } else if (
      code === 0x2028 || code === 0x2029 || code === 0xfeff ||
      (code >= 0xd800 && code <= 0xdfff) || // a lone surrogate
      // Bidirectional controls: U+202E makes "a\u202Egnp.exe" print as "aexe.png".
      code === 0x061c || code === 0x200e || code === 0x200f ||
      (code >= 0x202a && code <= 0x202e) || (code >= 0x2066 && code <= 0x2069)
    ) {
      out += `\\u{${code.toString(16)}}`;
      escaped = true;
    } else {
      out += ch;
    }
  }
  return escaped || /\s/.test(name) || name === "" ? `"${out}"` : out;
}

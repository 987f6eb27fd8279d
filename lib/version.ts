/**
 * Versions pasa reports: its own (from deno.json), the protocol's, Deno's.
 *
 * @module
 */

import config from "../deno.json" with { type: "json" };
import { VERSION } from "./protocol.ts";

/** pasa's release version. */
export const PASA_VERSION: string = config.version;

/** What pasa says in its `hello` frame, e.g. `pasa/0.1.0`. */
export const SOFTWARE = `pasa/${PASA_VERSION}`;

/** The `--version` text: tool, protocol and runtime versions. */
export function versionText(): string {
  return `pasa ${PASA_VERSION} (protocol ${VERSION}, deno ${Deno.version.deno})`;
}

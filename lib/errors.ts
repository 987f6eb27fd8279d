/**
 * The few error classes that callers act on. Each carries a stable `code`
 * (printed in `--json` error events and sent in protocol `error` frames) and
 * the process exit code it maps to; {@link exitCodeOf} is the one place the
 * mapping is read.
 *
 * Exit codes: 0 success, 1 network or I/O failure (protocol errors and time-outs
 * included), 2 usage error, 3 integrity failure, 4 refused by the receiver,
 * 5 pairing failed (wrong code, locked receiver, or only one side
 * `--insecure`), 130 interrupted.
 *
 * @module
 */

/** Process exit codes, as documented in README.md and `--help`. */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  integrity: 3,
  refused: 4,
  auth: 5,
  interrupted: 130,
} as const;

/** Base class of pasa's own errors: a message, a stable code, an exit code. */
export class PasaError extends Error {
  /** Stable machine-readable code, e.g. `"timeout"` or `"exists"`. */
  readonly code: string;
  /** The process exit code this error ends in. */
  readonly exitCode: number;
  /** True when the peer reported this error in an `error` frame. */
  fromPeer = false;

  constructor(
    message: string,
    code: string,
    exitCode: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** The command line is wrong: unknown flag, bad value, flags that conflict. */
export class UsageError extends PasaError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, "usage", ExitCode.usage, options);
  }
}

/** The connection failed, was cut, or a file could not be read or written. */
export class NetworkError extends PasaError {
  constructor(message: string, code = "network", options?: ErrorOptions) {
    super(message, code, ExitCode.failure, options);
  }
}

/** The peer said nothing for longer than `--timeout`. */
export class TimeoutError extends PasaError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, "timeout", ExitCode.failure, options);
  }
}

/** The peer broke the wire protocol: bad magic, bad frame, wrong sizes. */
export class ProtocolError extends PasaError {
  constructor(message: string, code = "protocol", options?: ErrorOptions) {
    super(message, code, ExitCode.failure, options);
  }
}

/** Data arrived, but its SHA-256 does not match what the sender computed. */
export class IntegrityError extends PasaError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, "integrity", ExitCode.integrity, options);
  }
}

/** Why a receiver refuses a transfer: the `code` of a {@link RefusedError}. */
export type RefusalReason =
  | "exists"
  | "too-large"
  | "no-space"
  | "unsafe-name"
  | "busy"
  | "not-single-file"
  | "no-udp"
  | "declined";

/** The receiver refused the transfer before or while taking it. */
export class RefusedError extends PasaError {
  constructor(
    message: string,
    reason: RefusalReason,
    options?: ErrorOptions,
  ) {
    super(message, reason, ExitCode.refused, options);
  }
}

/**
 * Pairing failed: a wrong code (`auth`), a receiver locked after too many
 * wrong codes (`locked`), or one side `--insecure` (`insecure`).
 */
export class AuthError extends PasaError {
  constructor(message: string, code = "auth", options?: ErrorOptions) {
    super(message, code, ExitCode.auth, options);
  }
}

/** The user interrupted (Ctrl-C). */
export class InterruptedError extends PasaError {
  constructor(message = "Interrupted", options?: ErrorOptions) {
    super(message, "interrupted", ExitCode.interrupted, options);
  }
}

const refusalReasons: ReadonlySet<string> = new Set<RefusalReason>([
  "exists",
  "too-large",
  "no-space",
  "unsafe-name",
  "busy",
  "not-single-file",
  "no-udp",
  "declined",
]);

/**
 * Rebuilds the error a peer reported in an `error` frame, so that both sides
 * end with the same exit code.
 */
export function errorFromPeer(
  code: string,
  message: string,
  peer = "Peer",
): PasaError {
  // An interruption is said plainly: the other side's user stopped it.
  const text = code === "interrupted"
    ? `The ${peer.toLowerCase()} was interrupted (stopped by its user)`
    : `${peer} reported: ${message}`;
  let error: PasaError;
  if (code === "integrity") error = new IntegrityError(text);
  else if (refusalReasons.has(code)) {
    error = new RefusedError(text, code as RefusalReason);
  } else if (code === "timeout") error = new TimeoutError(text);
  else if (["auth", "locked", "insecure"].includes(code)) {
    error = new AuthError(text, code);
  } else if (
    ["network", "io", "disk", "interrupted", "dropped"].includes(code)
  ) {
    error = new NetworkError(text, code);
  } else error = new ProtocolError(text, code);
  error.fromPeer = true;
  return error;
}

/** The exit code an error ends the process with; 1 for foreign errors. */
export function exitCodeOf(error: unknown): number {
  return error instanceof PasaError ? error.exitCode : ExitCode.failure;
}

/** The stable code of an error; `"internal"` for foreign errors. */
export function codeOf(error: unknown): string {
  return error instanceof PasaError ? error.code : "internal";
}

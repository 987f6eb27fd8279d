/**
 * The sessions a `--keep` receiver holds, by the token each sender gave in
 * its manifest (PROTOCOL.md 5.3): the same for every attempt of one
 * `pasa send --retry`. A sender that reconnects after a cut neither side
 * noticed (a cable pulled, a firewall that drops) finds its old session
 * still holding its names; with the same token it takes them over: the old
 * session is ended as a cut one is (its parts are kept), and the new one
 * resumes them. The token travels inside the encrypted session, so only
 * that sender knows it.
 *
 * @module
 */

import { withDeadline } from "./session.ts";

/** How long a new session waits for the one it takes over to let go. */
export const TAKEOVER_WAIT_MS = 5000;

interface Holder {
  end(): void;
  ended: Promise<void>;
}

/** Sessions by their sender's token. */
export class SenderTokens {
  #held = new Map<string, Holder>();

  /**
   * Holds `token` for a session that `end` stops. A session already
   * holding it is ended first (and waited for, at most
   * {@link TAKEOVER_WAIT_MS}); returns whether one was, and the release to
   * call once this session has let go of everything.
   */
  async take(
    token: string,
    end: () => void,
  ): Promise<{ tookOver: boolean; release: () => void }> {
    const old = this.#held.get(token);
    if (old) {
      old.end();
      await withDeadline(old.ended, TAKEOVER_WAIT_MS).catch(() => {});
    }
    let release!: () => void;
    const holder: Holder = {
      end,
      ended: new Promise((resolve) => release = resolve),
    };
    this.#held.set(token, holder);
    return {
      tookOver: old !== undefined,
      release: () => {
        if (this.#held.get(token) === holder) this.#held.delete(token);
        release();
      },
    };
  }

  /** Tokens held now. */
  get size(): number {
    return this.#held.size;
  }
}

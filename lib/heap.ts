/**
 * Bounded memory for long lists: work that makes garbage per item (a
 * look-up result per file, a frame per file) for hundreds of thousands of
 * items lets V8 grow its old space by hundreds of MB before it collects.
 * A full collection every so many items keeps the peak near what is live.
 * It needs `--expose-gc` (the `pasa` task and the binary have it); without
 * it nothing happens.
 *
 * @module
 */

const gc = (globalThis as { gc?: (o?: { type: string }) => void }).gc;

/** Collects every `every` calls of {@link tick}. */
export class Collector {
  #every: number;
  #count = 0;

  constructor(every: number) {
    this.#every = every;
  }

  /** One more item done; a full collection when it is the `every`th. */
  tick(): void {
    if (++this.#count % this.#every === 0) gc?.();
  }
}

/** Lists shorter than this leave too little garbage to be worth a collection. */
export const LONG_LIST = 4096;

/**
 * A full collection now, where the runtime allows it, after work over
 * `items` things (a manifest's entries, resume frames): none for a short
 * list, where it would only cost time (10-20 ms).
 */
export function collectAfter(items: number): void {
  if (items >= LONG_LIST) gc?.();
}

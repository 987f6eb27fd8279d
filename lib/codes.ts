/**
 * Pairing codes: `NUMBER-WORD-WORD`, e.g. `7-guitar-nebula`, from 999
 * numbers and a built-in list of 256 words. The number is announced on the
 * local network (lib/discovery.ts), so the secret there is the words: 16
 * bits. That is enough because a guess costs a whole online pairing and a
 * receiver stops after a few wrong ones (see secure.ts, README's security
 * section); SPAKE2 stops guessing offline.
 *
 * @module
 */

import { UsageError } from "./errors.ts";

/** 256 short, distinct English words that are easy to say and to type. */
export const WORDS: readonly string[] = `
acorn actor adobe agent alarm album alpine amber anchor angle apple apron
arrow aspen atlas autumn badge badger bagel baker bamboo banjo barrel basil
beacon beaver bento berry biscuit bison blanket blossom border bottle
bounce bracket breeze bridge brook bucket buffalo bundle butter cabbage
cabin cactus camel candle canoe canyon carbon carpet castle cedar cello
chalk cherry chess cinema circle citrus clover cobalt coconut comet copper
coral cotton cougar crane crayon cricket crystal cupcake dancer denim
desert diesel dinner dolphin domino donkey dragon dune eagle easel echo
elbow ember engine fabric falcon feather fennel ferry fiddle figure flame
flute forest fossil fountain garden garlic gazelle ginger glacier goblet
gravel guitar hammer harbor harvest hazel helmet hermit hiking honey
horizon hornet iceberg igloo indigo island ivory jacket jaguar jasmine
jelly jigsaw jukebox jungle kayak kernel kettle kitten koala ladder lagoon
lantern lemon lemur lentil letter lilac linen lizard lobster locket lotus
lumber magnet mammoth mango maple marble meadow melon meteor mirror mitten
monsoon mosaic muffin mustard napkin nebula needle nickel noodle nugget
nutmeg oasis ocean olive onion orange orbit orchid otter oyster paddle
panda papaya parade parrot peanut pebble pepper pigeon pillow pilot planet
pocket pollen poppy pretzel puzzle quartz quill rabbit radar radish raisin
raven rhubarb ribbon river rocket saddle salmon sandal sapphire satin
sierra silver sketch sparrow spider spruce squash statue summit sunset
tablet tango teapot temple thistle thunder tiger timber tomato topaz
tractor tulip tundra tunnel turnip turtle umbrella vanilla velvet violet
volcano waffle wagon walnut walrus willow window winter wizard yogurt zebra
zipper`.trim().split(/\s+/);

/** Shortest code `--code` accepts. */
export const MIN_CODE_LENGTH = 6;

/** A fresh random code, like `7-guitar-nebula`. */
export function generateCode(): string {
  const r = crypto.getRandomValues(new Uint32Array(3));
  const number = 1 + (r[0]! % 999);
  return `${number}-${WORDS[r[1]! % WORDS.length]}-${
    WORDS[r[2]! % WORDS.length]
  }`;
}

/**
 * The canonical form both sides hash: trimmed, lower case, runs of spaces,
 * dashes or underscores made one dash, so `7 Guitar nebula` pairs with
 * `7-guitar-nebula`. Throws a UsageError for a code too short to be safe.
 */
export function normalizeCode(code: string, source = "--code"): string {
  const normal = code.trim().toLowerCase().replace(/[\s_-]+/g, "-");
  if (normal.length < MIN_CODE_LENGTH) {
    throw new UsageError(
      `The code from ${source} is too short: use at least ${MIN_CODE_LENGTH} characters, like 7-guitar-nebula`,
    );
  }
  if (normal.length > 256) {
    throw new UsageError(`The code from ${source} is over 256 characters`);
  }
  return normal;
}

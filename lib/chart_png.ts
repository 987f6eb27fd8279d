/**
 * The chart as a PNG beside its SVG, for reports and slides that take no
 * SVG: rendered by resvg (WebAssembly, from npm) with the DejaVu Sans font
 * bundled, so it looks the same on every machine and needs no browser or
 * system fonts. Loaded only when a chart is written.
 *
 * @module
 */

import { initWasm, Resvg } from "@resvg/resvg-wasm";
import wasm from "@resvg/resvg-wasm/index_bg.wasm" with { type: "bytes" };
import regular from "dejavu-fonts-ttf/ttf/DejaVuSans.ttf" with {
  type: "bytes",
};
import bold from "dejavu-fonts-ttf/ttf/DejaVuSans-Bold.ttf" with {
  type: "bytes",
};

let ready: Promise<void> | undefined;

/** Renders `svg` (a chart of bench_report.ts) to PNG bytes. */
export async function svgToPng(svg: string): Promise<Uint8Array> {
  await (ready ??= initWasm(wasm));
  const image = new Resvg(svg, {
    font: {
      fontBuffers: [regular, bold],
      defaultFontFamily: "DejaVu Sans",
      sansSerifFamily: "DejaVu Sans",
      loadSystemFonts: false,
    },
  });
  return image.render().asPng();
}

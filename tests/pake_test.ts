/**
 * SPAKE2 against the published test vectors of RFC 9382 Appendix B
 * (SPAKE2-P256-SHA256-HKDF-HMAC), plus the failure cases.
 */

import assert from "node:assert/strict";
import { p256 } from "@noble/curves/nist.js";
import { scrypt } from "@noble/hashes/scrypt.js";
import {
  deriveW,
  M_HEX,
  N_HEX,
  pakeFinish,
  pakeStart,
  sameBytes,
} from "../lib/pake.ts";

const hex = (b: Uint8Array) =>
  Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const bytes = (h: string) =>
  Uint8Array.from(h.match(/../g) ?? [], (x) => parseInt(x, 16));
const text = (s: string) => new TextEncoder().encode(s);

/** RFC 9382 Appendix B, the four vectors (TT is printed for the first only). */
const VECTORS = [
  {
    A: "server",
    B: "client",
    w: "2ee57912099d31560b3a44b1184b9b4866e904c49d12ac5042c97dca461b1a5f",
    x: "43dd0fd7215bdcb482879fca3220c6a968e66d70b1356cac18bb26c84a78d729",
    y: "dcb60106f276b02606d8ef0a328c02e4b629f84f89786af5befb0bc75b6e66be",
    pA:
      "04a56fa807caaa53a4d28dbb9853b9815c61a411118a6fe516a8798434751470f9010153ac33d0d5f2047ffdb1a3e42c9b4e6be662766e1eeb4116988ede5f912c",
    pB:
      "0406557e482bd03097ad0cbaa5df82115460d951e3451962f1eaf4367a420676d09857ccbc522686c83d1852abfa8ed6e4a1155cf8f1543ceca528afb591a1e0b7",
    TT:
      "06000000000000007365727665720600000000000000636c69656e74410000000000000004a56fa807caaa53a4d28dbb9853b9815c61a411118a6fe516a8798434751470f9010153ac33d0d5f2047ffdb1a3e42c9b4e6be662766e1eeb4116988ede5f912c41000000000000000406557e482bd03097ad0cbaa5df82115460d951e3451962f1eaf4367a420676d09857ccbc522686c83d1852abfa8ed6e4a1155cf8f1543ceca528afb591a1e0b741000000000000000412af7e89717850671913e6b469ace67bd90a4df8ce45c2af19010175e37eed69f75897996d539356e2fa6a406d528501f907e04d97515fbe83db277b715d332520000000000000002ee57912099d31560b3a44b1184b9b4866e904c49d12ac5042c97dca461b1a5f",
    Ke: "0e0672dc86f8e45565d338b0540abe69",
    Ka: "15bdf72e2b35b5c9e5663168e960a91b",
    KcA: "00c12546835755c86d8c0db7851ae86f",
    KcB: "a9fa3406c3b781b93d804485430ca27a",
    cA: "58ad4aa88e0b60d5061eb6b5dd93e80d9c4f00d127c65b3b35b1b5281fee38f0",
    cB: "d3e2e547f1ae04f2dbdbf0fc4b79f8ecff2dff314b5d32fe9fcef2fb26dc459b",
  },
  {
    A: "",
    B: "client",
    w: "0548d8729f730589e579b0475a582c1608138ddf7054b73b5381c7e883e2efae",
    x: "403abbe3b1b4b9ba17e3032849759d723939a27a27b9d921c500edde18ed654b",
    y: "903023b6598908936ea7c929bd761af6039577a9c3f9581064187c3049d87065",
    pA:
      "04a897b769e681c62ac1c2357319a3d363f610839c4477720d24cbe32f5fd85f44fb92ba966578c1b712be6962498834078262caa5b441ecfa9d4a9485720e918a",
    pB:
      "04e0f816fd1c35e22065d5556215c097e799390d16661c386e0ecc84593974a61b881a8c82327687d0501862970c64565560cb5671f696048050ca66ca5f8cc7fc",
    Ke: "642f05c473c2cd79909f9a841e2f30a7",
    Ka: "0bf89b18180af97353ba198789c2b963",
    KcA: "c6be376fc7cd1301fd0a13adf3e7bffd",
    KcB: "b7243f4ae60440a49b3f8cab3c1fba07",
    cA: "47d29e6666af1b7dd450d571233085d7a9866e4d49d2645e2df975489521232b",
    cB: "3313c5cefc361d27fb16847a91c2a73b766ffa90a4839122a9b70a2f6bd1d6df",
  },
  {
    A: "server",
    B: "",
    w: "626e0cdc7b14c9db3e52a0b1b3a768c98e37852d5db30febe0497b14eae8c254",
    x: "07adb3db6bc623d3399726bfdbfd3d15a58ea776ab8a308b00392621291f9633",
    y: "b6a4fc8dbb629d4ba51d6f91ed1532cf87adec98f25dd153a75accafafedec16",
    pA:
      "04f88fb71c99bfffaea370966b7eb99cd4be0ff1a7d335caac4211c4afd855e2e15a873b298503ad8ba1d9cbb9a392d2ba309b48bfd7879aefd0f2cea6009763b0",
    pB:
      "040c269d6be017dccb15182ac6bfcd9e2a14de019dd587eaf4bdfd353f031101e7cca177f8eb362a6e83e7d5e729c0732e1b528879c086f39ba0f31a9661bd34db",
    Ke: "005184ff460da2ce59062c87733c299c",
    Ka: "3521297d736598fc0a1127600efa1afb",
    KcA: "f3da53604f0aeecea5a33be7bddf6edf",
    KcB: "9e3f86848736f159bd92b6e107ec6799",
    cA: "bc9f9bbe99f26d0b2260e6456e05a86196a3307ec6663a18bf6ac825736533b2",
    cB: "c2370e1bf813b086dff0d834e74425a06e6390f48f5411900276dcccc5a297ec",
  },
  {
    A: "",
    B: "",
    w: "7bf46c454b4c1b25799527d896508afd5fc62ef4ec59db1efb49113063d70cca",
    x: "8cef65df64bb2d0f83540c53632de911b5b24b3eab6cc74a97609fd659e95473",
    y: "d7a66f64074a84652d8d623a92e20c9675c61cb5b4f6a0063e4648a2fdc02d53",
    pA:
      "04a65b367a3f613cf9f0654b1b28a1e3a8a40387956c8ba6063e8658563890f46ca1ef6a676598889fc28de2950ab8120b79a5ef1ea4c9f44bc98f585634b46d66",
    pB:
      "04589f13218822710d98d8b2123a079041052d9941b9cf88c6617ddb2fcc0494662eea8ba6b64692dc318250030c6af045cb738bc81ba35b043c3dcb46adf6f58d",
    Ke: "fc6374762ba5cf11f4b2caa08b2cd1b9",
    Ka: "907ae0e26e8d6234318d91583cd74c86",
    KcA: "5dbd2f477166b7fb6d61febbd77a5563",
    KcB: "7689b4654407a5faeffdc8f18359d8a3",
    cA: "dfb4db8d48ae5a675963ea5e6c19d98d4ea028d8e898dad96ea19a80ade95dca",
    cB: "d0f0609d1613138d354f7e95f19fb556bf52d751947241e8c7118df5ef0ae175",
  },
];

Deno.test("SPAKE2 matches the RFC 9382 Appendix B test vectors", () => {
  for (const [i, v] of VECTORS.entries()) {
    const w = BigInt(`0x${v.w}`);
    const a = pakeStart("A", w, BigInt(`0x${v.x}`));
    const b = pakeStart("B", w, BigInt(`0x${v.y}`));
    assert.equal(hex(a.share), v.pA, `vector ${i}: pA`);
    assert.equal(hex(b.share), v.pB, `vector ${i}: pB`);
    const ra = pakeFinish(a, b.share, text(v.A), text(v.B));
    const rb = pakeFinish(b, a.share, text(v.A), text(v.B));
    if (v.TT) assert.equal(hex(ra.transcript), v.TT, `vector ${i}: TT`);
    for (const [side, r] of [["A", ra], ["B", rb]] as const) {
      assert.equal(hex(r.ke), v.Ke, `vector ${i} ${side}: Ke`);
      assert.equal(hex(r.ka), v.Ka, `vector ${i} ${side}: Ka`);
      assert.equal(hex(r.kcA), v.KcA, `vector ${i} ${side}: KcA`);
      assert.equal(hex(r.kcB), v.KcB, `vector ${i} ${side}: KcB`);
      assert.equal(hex(r.cA), v.cA, `vector ${i} ${side}: cA`);
      assert.equal(hex(r.cB), v.cB, `vector ${i} ${side}: cB`);
    }
  }
});

Deno.test("SPAKE2 M and N decode to points of P-256", () => {
  for (const h of [M_HEX, N_HEX]) {
    p256.Point.fromHex(h).assertValidity();
  }
});

Deno.test("w is scrypt of the code as PROTOCOL.md 4.1 writes it, checked against an independent scrypt", () => {
  const code = "7-guitar-nebula ñ"; // UTF-8 beyond ASCII too
  const expected = scrypt(text(code), text("pasa/1 SPAKE2 w"), {
    N: 2 ** 12,
    r: 8,
    p: 1,
    dkLen: 48,
  });
  const order = p256.Point.Fn.ORDER;
  assert.equal(deriveW(code), BigInt("0x" + hex(expected)) % order);
});

Deno.test("SPAKE2: the same code agrees, another code does not", () => {
  const ids = [text("pasa sender"), text("pasa receiver")] as const;
  const w = deriveW("7-guitar-nebula");
  assert.equal(w, deriveW("7-guitar-nebula"));
  const a = pakeStart("A", w);
  const b = pakeStart("B", w);
  const ra = pakeFinish(a, b.share, ...ids);
  const rb = pakeFinish(b, a.share, ...ids);
  assert.ok(sameBytes(ra.ke, rb.ke));
  assert.ok(sameBytes(ra.cB, rb.cB));

  const wrong = pakeStart("B", deriveW("7-guitar-nebulb"));
  const ra2 = pakeFinish(a, wrong.share, ...ids);
  const rw = pakeFinish(wrong, a.share, ...ids);
  assert.ok(!sameBytes(ra2.ke, rw.ke));
  assert.ok(!sameBytes(ra2.cB, rw.cB), "A must reject B's confirmation");
  assert.ok(!sameBytes(ra2.cA, rw.cA), "B must reject A's confirmation");
});

Deno.test("SPAKE2 refuses shares that are not usable points", () => {
  const w = deriveW("code");
  const a = pakeStart("A", w);
  const ids = [text("a"), text("b")] as const;
  const bad = [
    new Uint8Array(0),
    new Uint8Array(65), // prefix 0, not a point
    bytes(`04${"ff".repeat(64)}`), // off the curve
    bytes(M_HEX), // compressed: refused
  ];
  for (const share of bad) {
    assert.throws(() => pakeFinish(a, share, ...ids), RangeError);
  }
  // A share of exactly w·N unblinds to the identity.
  const wN = p256.Point.fromHex(N_HEX).multiply(w).toBytes(false);
  assert.throws(() => pakeFinish(a, wN, ...ids), /degenerate/);
});

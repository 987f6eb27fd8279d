/**
 * The embedded receiver of `pasa bench` on loopback, run in a Worker so it
 * has a core of its own, as a second machine would: it listens on
 * 127.0.0.1 (TCP and UDP on one port number), posts the port, and takes
 * measurements into a scratch target that keeps nothing.
 *
 * @module
 */

import { reverseServer } from "./bench.ts";
import { Scratch } from "./scratch.ts";
import { Link } from "./link.ts";
import { receiveSession } from "./receive.ts";
import { listen } from "./tcp.ts";
import { UdpEndpoint } from "./udp_receive.ts";

const post = (message: unknown) =>
  (globalThis as unknown as { postMessage(m: unknown): void }).postMessage(
    message,
  );

// The first message says how to pair: { code } or { code: null } for --insecure.
const config = await new Promise<{ code: string | null }>((resolve) => {
  (globalThis as unknown as { onmessage(e: MessageEvent): void }).onmessage = (
    e,
  ) => resolve(e.data);
});
const pairing = config.code === null
  ? {}
  : { pairing: { code: config.code, initiator: false } };

let listener: Deno.TcpListener | undefined;
let udp: UdpEndpoint | undefined;
// TCP takes any free port; UDP must get the same number, which may be taken: try again.
for (let attempt = 0; attempt < 20 && udp === undefined; attempt++) {
  listener = listen("127.0.0.1", 0);
  try {
    udp = UdpEndpoint.bind("127.0.0.1", (listener.addr as Deno.NetAddr).port);
  } catch {
    listener.close();
  }
}
if (!listener || !udp) {
  post({ error: "Cannot bind TCP and UDP on one port number on 127.0.0.1" });
} else {
  post({ port: (listener.addr as Deno.NetAddr).port });
  for await (const conn of listener) {
    const scratch = new Scratch();
    const link = new Link(conn, { timeoutMs: 60_000, ...pairing });
    const peer = (conn.remoteAddr as Deno.NetAddr).hostname;
    receiveSession(link, scratch, {
      udp,
      scratch,
      reverse: reverseServer(link, peer),
    })
      .catch(() => {}) // the sender reports every failure
      .finally(() => scratch.close());
  }
}

import assert from "node:assert/strict";
import { Payload } from "../lib/payload.ts";
import { Pattern } from "../lib/pattern.ts";
import { TransferState } from "../lib/session.ts";
import { RateController, slotPayload } from "../lib/udp.ts";
import {
  type DatagramPath,
  freshCounters,
  Pacer,
  sendUdpFile,
} from "../lib/udp_send.ts";
import { DatagramSizing } from "../lib/udp_sizing.ts";

Deno.test("a receiver that asks for its whole file again and again during the pass gets no more than the file again", async () => {
  const size = 8 * 1024 * 1024;
  const payload = slotPayload(1472, false);
  // A sink nobody reads: the datagrams' contents do not matter here.
  const socket = Deno.listenDatagram({
    hostname: "127.0.0.1",
    port: 0,
    transport: "udp",
  });
  const sink = Deno.listenDatagram({
    hostname: "127.0.0.1",
    port: 0,
    transport: "udp",
  });
  const early: DatagramPath["early"] = [];
  const path: DatagramPath = {
    socket,
    targets: [sink.addr as Deno.NetAddr],
    transfer: 1,
    datagramSize: 1472,
    sizing: new DatagramSizing(11),
    pacer: new Pacer(new RateController({ fixed: 40e9, initial: 40e9 }), {
      shared: false,
    }),
    state: new TransferState(),
    ensureOpen: () => {
      // All the time, the receiver asks for every slot sent so far.
      const sent = Math.floor(path.state.fileBytes / payload);
      if (early.length === 0 && sent > 0) {
        early.push({
          type: "udp-missing",
          index: 0,
          ranges: [[0, sent]],
          early: true,
        });
      }
    },
    passEnd: () => Promise.resolve({ complete: true }),
    seal: undefined,
    early,
    ...freshCounters(),
  };
  try {
    const pattern = Pattern.random();
    const { complete } = await sendUdpFile(
      path,
      new Payload(size, pattern),
      0,
      size,
    );
    assert.ok(complete);
    assert.ok(
      path.retransmittedBytes <= size,
      `${path.retransmittedBytes} bytes sent again for a file of ${size}`,
    );
    assert.ok(path.retransmittedBytes > 0, "what was sent and asked for went");
  } finally {
    socket.close();
    sink.close();
  }
});

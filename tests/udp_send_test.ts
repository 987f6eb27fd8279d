import assert from "node:assert/strict";
import { Payload } from "../lib/payload.ts";
import { Pattern } from "../lib/pattern.ts";
import { TransferState } from "../lib/session.ts";
import { RateController, slotPayload } from "../lib/udp.ts";
import {
  type DatagramPath,
  freshCounters,
  MAX_REPAIR_ROUNDS,
  Pacer,
  sendUdpFile,
} from "../lib/udp_send.ts";
import { DatagramSizing } from "../lib/udp_sizing.ts";

/**
 * A path to a sink nobody reads (the datagrams' contents do not matter),
 * at a rate that never waits; `more` fills in how the receiver answers.
 */
function pathToNowhere(
  more: Pick<DatagramPath, "ensureOpen" | "passEnd"> & Partial<DatagramPath>,
): DatagramPath & Disposable {
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
  return {
    socket,
    targets: [sink.addr as Deno.NetAddr],
    transfer: 1,
    datagramSize: 1472,
    sizing: new DatagramSizing(11),
    pacer: new Pacer(new RateController({ fixed: 40e9, initial: 40e9 }), {
      shared: false,
    }),
    state: new TransferState(),
    seal: undefined,
    ...freshCounters(),
    ...more,
    [Symbol.dispose]() {
      socket.close();
      sink.close();
    },
  };
}

Deno.test("a receiver that asks for its whole file again and again during the pass gets no more than the file again", async () => {
  const size = 8 * 1024 * 1024;
  const payload = slotPayload(1472, false);
  const early: DatagramPath["early"] = [];
  using path = pathToNowhere({
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
    early,
  });
  const { complete } = await sendUdpFile(
    path,
    new Payload(size, Pattern.random()),
    0,
    size,
  );
  assert.ok(complete);
  assert.ok(
    path.retransmittedBytes <= size,
    `${path.retransmittedBytes} bytes sent again for a file of ${size}`,
  );
  assert.ok(path.retransmittedBytes > 0, "what was sent and asked for went");
});

Deno.test("a receiver that asks for the whole file after every pass is given up after 32 rounds: at most the file each round", async () => {
  const size = 1024 * 1024;
  const slots = Math.ceil(size / slotPayload(1472, false));
  let asked = 0;
  using path = pathToNowhere({
    ensureOpen: () => {},
    passEnd: () => {
      // Bounded here too: a sender without the bound would end at 100.
      return Promise.resolve(
        ++asked > 100 ? { complete: true } : { ranges: [[0, slots]] },
      );
    },
    maxRepairRounds: MAX_REPAIR_ROUNDS,
  });
  await assert.rejects(
    sendUdpFile(path, new Payload(size, Pattern.random()), 0, size),
    /still asked for parts of .* after 32 rounds of repair/,
  );
  assert.equal(asked, MAX_REPAIR_ROUNDS + 1);
  assert.ok(
    path.retransmittedBytes <= MAX_REPAIR_ROUNDS * size,
    `${path.retransmittedBytes} bytes sent again`,
  );
});

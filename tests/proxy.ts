/**
 * A TCP proxy for tests, on 127.0.0.1 port 0, that can damage the
 * client-to-server direction: flip one byte at an offset, or cut the
 * connection after a number of bytes.
 *
 * @module
 */

/** What the proxy does to bytes from the client. */
export interface Damage {
  /** XOR this byte offset (from the start of the connection) with 0xff. */
  flipAt?: number;
  /** Close both sides once this many bytes have been forwarded. */
  cutAfter?: number;
  /** Damage only the first this many connections (default: all). */
  connections?: number;
  /** Sees every byte forwarded, both ways (a capture of the wire). */
  capture?: (bytes: Uint8Array) => void;
  /** Forward the client's bytes at about this rate (a slow link). */
  bytesPerSecond?: number;
  /**
   * Once this many bytes have been forwarded, forward nothing more either
   * way, but keep both connections open (a cable pulled, a firewall that
   * drops), until the proxy is disposed.
   */
  freezeAfter?: number;
}

/** A connection's two directions: frozen together. */
interface Line {
  frozen: boolean;
  /** Resolves when the proxy is disposed. */
  stopped: Promise<void>;
}

/** A running proxy. */
export interface Proxy extends AsyncDisposable {
  port: number;
}

async function pump(
  from: Deno.Conn,
  to: Deno.Conn,
  damage: Damage,
  onCut: () => void,
  line: Line,
  capture?: (bytes: Uint8Array) => void,
): Promise<void> {
  const buf = new Uint8Array(64 * 1024);
  let offset = 0;
  try {
    for (;;) {
      const n = await from.read(buf);
      if (n === null) break;
      if (
        damage.freezeAfter !== undefined && offset + n >= damage.freezeAfter
      ) line.frozen = true;
      if (line.frozen) {
        await line.stopped; // nothing more gets through, either way
        return;
      }
      let piece = buf.subarray(0, n);
      const flip = damage.flipAt;
      if (flip !== undefined && flip >= offset && flip < offset + n) {
        piece[flip - offset]! ^= 0xff;
      }
      if (damage.cutAfter !== undefined && offset + n >= damage.cutAfter) {
        piece = piece.subarray(0, damage.cutAfter - offset);
        for (let done = 0; done < piece.length;) {
          done += await to.write(piece.subarray(done));
        }
        onCut();
        return;
      }
      capture?.(piece.slice());
      for (let done = 0; done < piece.length;) {
        done += await to.write(piece.subarray(done));
      }
      offset += n;
      if (damage.bytesPerSecond) {
        await new Promise((r) =>
          setTimeout(r, n / damage.bytesPerSecond! * 1000)
        );
      }
    }
    await to.closeWrite().catch(() => {});
  } catch {
    onCut();
  }
}

/** Starts a proxy to 127.0.0.1:`target` applying `damage` to client bytes. */
export function startProxy(target: number, damage: Damage = {}): Proxy {
  return startProxyOn(0, target, damage);
}

/** Like {@link startProxy}, listening on a given port (throws if it is taken). */
export function startProxyOn(
  port: number,
  target: number,
  damage: Damage = {},
): Proxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  const tasks: Promise<void>[] = [];
  let stop = () => {};
  const stopped = new Promise<void>((resolve) => stop = resolve);
  const closers: (() => void)[] = [];
  const serve = async () => {
    let count = 0;
    for await (const client of listener) {
      const harm = ++count <= (damage.connections ?? Infinity) ? damage : {};
      const server = await Deno.connect({
        hostname: "127.0.0.1",
        port: target,
      });
      const close = () => {
        try {
          client.close();
        } catch { /* closed */ }
        try {
          server.close();
        } catch { /* closed */ }
      };
      const line: Line = { frozen: false, stopped };
      closers.push(close);
      const both = Promise.all([
        pump(client, server, harm, close, line, damage.capture),
        pump(server, client, {}, close, line, damage.capture),
      ])
        .then(close);
      tasks.push(both);
    }
  };
  const loop = serve().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async [Symbol.asyncDispose]() {
      listener.close();
      stop();
      for (const close of closers) close();
      await loop;
      await Promise.all(tasks);
    },
  };
}

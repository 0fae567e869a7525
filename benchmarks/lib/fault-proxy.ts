/**
 * A TCP proxy on loopback that can drop connections (fault injection for `npm run soak`): it forwards every connection
 * to `target`; `dropOne()` resets one open connection at random (an RST to the client, the upstream socket destroyed),
 * as a network fault or a restarted load balancer would, and `outage(ms)` resets every open connection and every new
 * one for `ms`, as an unreachable service would. Clients see ECONNRESET and reconnect or retry.
 */
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

export interface FaultProxy {
  /** The proxy's port on 127.0.0.1. */
  readonly port: number;
  /** Local ports of the proxy's open upstream sockets: how the target (e.g. Redis CLIENT LIST) sees these clients. */
  upstreamPorts(): Set<number>;
  /** Resets one open connection, chosen with `random()` in [0, 1); false when none is open. */
  dropOne(random: () => number): boolean;
  /** Resets every open connection, and every new one for the next `ms` milliseconds. */
  outage(ms: number): void;
  readonly stats: { connections: number; dropped: number; outages: number; refused: number };
  close(): Promise<void>;
}

export async function startFaultProxy(targetPort: number): Promise<FaultProxy> {
  const pairs = new Set<{ client: Socket; upstream: Socket }>();
  const stats = { connections: 0, dropped: 0, outages: 0, refused: 0 };
  let downUntil = 0;
  const reset = (p: { client: Socket; upstream: Socket }): void => {
    pairs.delete(p);
    p.client.resetAndDestroy();
    p.upstream.destroy();
  };
  const server = createServer((client) => {
    stats.connections++;
    if (Date.now() < downUntil) {
      stats.refused++;
      client.on('error', () => undefined).resetAndDestroy();
      return;
    }
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    const pair = { client, upstream };
    pairs.add(pair);
    const end = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as AddressInfo).port,
    upstreamPorts: () => new Set([...pairs].map((p) => p.upstream.localPort).filter((p): p is number => p !== undefined)),
    dropOne(random) {
      const open = [...pairs];
      if (open.length === 0) return false;
      stats.dropped++;
      reset(open[Math.floor(random() * open.length)]!);
      return true;
    },
    outage(ms) {
      stats.outages++;
      downUntil = Date.now() + ms;
      for (const p of [...pairs]) reset(p);
    },
    stats,
    close() {
      for (const p of pairs) {
        p.client.destroy();
        p.upstream.destroy();
      }
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

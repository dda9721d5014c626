import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { createServer, type Socket } from 'node:net';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { podEventSchema } from '../src/event-schema.js';
import { podEvent, type PodEvent } from '../src/events.js';
import { createNatsBus, EventBusError, eventSubject, subscriptionSubject, type NatsBus } from '../src/nats-bus.js';
import { startNatsServer, type TestNatsServer } from './nats-server.js';

const UUID_A = '0b6c0cd5-6a43-4b83-9a4b-0d2b6f8f3c01';
const UUID_B = '9e1d7c52-2f3e-4f0a-8a51-6c4b7de2a902';

let server: TestNatsServer;
const buses: NatsBus[] = [];

beforeAll(async () => {
  server = await startNatsServer();
});
afterAll(async () => {
  await Promise.all(buses.map((b) => b.close()));
  await server?.stop();
});

function bus(o: Partial<Parameters<typeof createNatsBus>[0]> = {}): NatsBus {
  const b = createNatsBus({ servers: server.url, ...o });
  buses.push(b);
  return b;
}

/** Collects a subscription's events; `until(n)` waits for n of them (or fails after 5 s). */
function collector() {
  const events: PodEvent[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  return {
    events,
    handler(e: PodEvent) {
      events.push(e);
      for (const w of waiters) if (events.length >= w.n) w.resolve();
    },
    async until(n: number): Promise<PodEvent[]> {
      if (events.length < n) {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`got ${events.length} of ${n} events: ${JSON.stringify(events)}`)), 5000);
          waiters.push({ n, resolve: () => (clearTimeout(timer), resolve()) });
        });
      }
      return events;
    },
  };
}

describe('subjects', () => {
  it('put the topic and the pod in the subject', () => {
    expect(eventSubject('rkt', { topic: 'pod/exited', podUuid: UUID_A })).toBe(`rkt.pod.exited.${UUID_A}`);
    expect(subscriptionSubject('rkt', 'pod/')).toBe('rkt.pod.*.*');
    expect(subscriptionSubject('rkt', 'app/exited')).toBe('rkt.app.exited.*');
    expect(subscriptionSubject('x.y', '', UUID_B)).toBe(`x.y.*.*.${UUID_B}`);
    // Not a whole topic nor a kind: everything, filtered on arrival.
    expect(subscriptionSubject('rkt', 'pod/ex')).toBe('rkt.*.*.*');
  });

  it('refuses a prefix that is not plain subject tokens', () => {
    for (const bad of ['', 'rkt.>', 'a b', 'rkt.', 'rkt.*']) {
      expect(() => createNatsBus({ servers: 'nats://127.0.0.1:1', subjectPrefix: bad }), bad).toThrow(EventBusError);
    }
    expect(() => createNatsBus({ servers: [] })).toThrow(/no NATS server/);
  });
});

describe('the NATS bus, with a real nats-server', () => {
  it('carries events between two connections, in order, filtered by topic prefix', async () => {
    const sub = bus();
    const pods = collector();
    const exits = collector();
    sub.subscribe('pod/', pods.handler);
    sub.subscribe('app/exited', exits.handler);
    await sub.flush(); // the server has both subscriptions

    const pub = bus();
    // Published before the connection is up: queued, then sent in order.
    pub.publish(podEvent('pod/prepared', UUID_A, { path: '/x' }));
    pub.publish(podEvent('pod/running', UUID_A, { stage1Pid: 42 }));
    pub.publish(podEvent('app/started', UUID_A, { app: 'a' }));
    pub.publish(podEvent('app/exited', UUID_A, { app: 'a', exitStatus: 7 }));
    pub.publish(podEvent('pod/exited', UUID_A, { exitStatus: 7 }));
    await pub.close();

    const got = await pods.until(3);
    expect(got.map((e) => e.topic)).toEqual(['pod/prepared', 'pod/running', 'pod/exited']);
    expect(got[1]).toMatchObject({ podUuid: UUID_A, payload: { stage1Pid: 42 } });
    expect(got[0]!.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect((await exits.until(1)).map((e) => e.payload)).toEqual([{ app: 'a', exitStatus: 7 }]);
  });

  it('narrows a subscription to one pod on the server', async () => {
    const sub = bus();
    const one = collector();
    sub.subscribe('', one.handler, { podUuid: UUID_B });
    await sub.flush();
    const pub = bus();
    pub.publish(podEvent('pod/prepared', UUID_A));
    pub.publish(podEvent('pod/prepared', UUID_B));
    pub.publish(podEvent('pod/removed', UUID_A));
    pub.publish(podEvent('pod/removed', UUID_B));
    await pub.close();
    await one.until(2);
    // A third event for B would prove A's were not merely late: none of A's ever arrives.
    const last = bus();
    last.publish(podEvent('pod/marked', UUID_B));
    await last.close();
    expect((await one.until(3)).map((e) => `${e.topic} ${e.podUuid}`)).toEqual([
      `pod/prepared ${UUID_B}`,
      `pod/removed ${UUID_B}`,
      `pod/marked ${UUID_B}`,
    ]);
  });

  it('stops delivering after unsubscribe', async () => {
    const sub = bus();
    const first = collector();
    const second = collector();
    const off = sub.subscribe('pod/', first.handler);
    sub.subscribe('pod/', second.handler);
    await sub.flush();
    const pub = bus();
    pub.publish(podEvent('pod/prepared', UUID_A));
    await pub.flush();
    await first.until(1);
    off();
    await sub.flush();
    pub.publish(podEvent('pod/removed', UUID_A));
    await pub.close();
    await second.until(2);
    expect(first.events.map((e) => e.topic)).toEqual(['pod/prepared']);
  });

  it('reports a message that is not a pod event, and goes on', async () => {
    const errors: EventBusError[] = [];
    const sub = bus({ onError: (e) => errors.push(e) });
    const got = collector();
    sub.subscribe('', got.handler);
    await sub.flush();
    const raw = await connect({ servers: server.url });
    raw.publish(`rkt.pod.running.${UUID_A}`, '{"topic":"pod/running"}');
    raw.publish(`rkt.pod.running.${UUID_A}`, 'not json');
    // A well-formed envelope on a subject that is not its own: another pod's, another topic's.
    raw.publish(`rkt.pod.running.${UUID_A}`, JSON.stringify(podEvent('pod/running', UUID_B)));
    raw.publish(`rkt.pod.running.${UUID_A}`, JSON.stringify(podEvent('pod/exited', UUID_A)));
    await raw.flush();
    await raw.close();
    const pub = bus();
    pub.publish(podEvent('pod/running', UUID_A));
    await pub.close();
    await got.until(1);
    expect(got.events).toHaveLength(1);
    expect(errors.map((e) => e.code)).toEqual(['BUS_MESSAGE', 'BUS_MESSAGE', 'BUS_MESSAGE', 'BUS_MESSAGE']);
    expect(errors[0]!.message).toMatch(new RegExp(`^message on rkt\\.pod\\.running\\.${UUID_A} is not a pod event: timestamp: must be an RFC 3339 time$`));
    expect(errors[2]!.message).toBe(`message on rkt.pod.running.${UUID_A} is not a pod event: its topic and pod say rkt.pod.running.${UUID_B}`);
    expect(errors[3]!.message).toBe(`message on rkt.pod.running.${UUID_A} is not a pod event: its topic and pod say rkt.pod.exited.${UUID_A}`);
  });

  it('keeps namespaces apart by subject prefix', async () => {
    const sub = bus({ subjectPrefix: 'site.a' });
    const got = collector();
    sub.subscribe('', got.handler);
    await sub.flush();
    const other = bus({ subjectPrefix: 'site.b' });
    other.publish(podEvent('pod/prepared', UUID_A));
    await other.close();
    const mine = bus({ subjectPrefix: 'site.a' });
    mine.publish(podEvent('pod/prepared', UUID_B));
    await mine.close();
    expect((await got.until(1)).map((e) => e.podUuid)).toEqual([UUID_B]);
  });
});

describe('with JetStream', () => {
  it('a stream on the prefix keeps the events for a subscriber that was away', async () => {
    const js = await startNatsServer({ jetstream: true });
    const nc = await connect({ servers: js.url });
    try {
      await (await jetstreamManager(nc)).streams.add({ name: 'RKT', subjects: ['rkt.>'] });
      const pub = createNatsBus({ servers: js.url });
      pub.publish(podEvent('pod/prepared', UUID_A));
      pub.publish(podEvent('pod/exited', UUID_A, { exitStatus: 0 }));
      await pub.close();
      // Read afterwards, by a consumer that did not exist when they were published.
      const consumer = await jetstream(nc).consumers.get('RKT');
      const got: PodEvent[] = [];
      for await (const m of await consumer.fetch({ max_messages: 2, expires: 3000 })) got.push(podEventSchema.parse(m.json()));
      expect(got.map((e) => `${e.topic} ${e.podUuid}`)).toEqual([`pod/prepared ${UUID_A}`, `pod/exited ${UUID_A}`]);
    } finally {
      await nc.close();
      await js.stop();
    }
  });
});

describe('TLS', () => {
  it('a tls:// server is spoken to only through TLS, checked against the CA given', async () => {
    const secure = await startNatsServer({ tls: true });
    try {
      const sub = createNatsBus({ servers: secure.url, tls: { caFile: secure.caFile! } });
      const got = collector();
      sub.subscribe('pod/', got.handler);
      await sub.flush();
      const pub = createNatsBus({ servers: secure.url, tls: { caFile: secure.caFile! } });
      pub.publish(podEvent('pod/prepared', UUID_A));
      await pub.close();
      expect((await got.until(1))[0]!.topic).toBe('pod/prepared');
      await sub.close();
      // Without the CA, the server's certificate is refused.
      const untrusted = createNatsBus({ servers: secure.url });
      await expect(untrusted.ready()).rejects.toMatchObject({ code: 'BUS_CONNECT', message: expect.stringMatching(/certificate/i) });
      await untrusted.close();
    } finally {
      await secure.stop();
    }
  });

  it('a tls:// URL never falls back to clear text with a server that offers no TLS', async () => {
    const plain = createNatsBus({ servers: server.url.replace('nats://', 'tls://'), token: 'not-to-be-sent-in-clear' });
    await expect(plain.ready()).rejects.toMatchObject({ code: 'BUS_CONNECT', message: expect.stringMatching(/tls/i) });
    await plain.close();
  });
});

describe('a bus that cannot connect', () => {
  it('never throws at the publisher, reports the failure once, and closes at once', async () => {
    const stopped = await startNatsServer();
    const url = stopped.url;
    await stopped.stop();
    const errors: EventBusError[] = [];
    const b = createNatsBus({ servers: url, onError: (e) => errors.push(e), timeoutMs: 1000 });
    b.publish(podEvent('pod/prepared', UUID_A));
    await expect(b.ready()).rejects.toMatchObject({ code: 'BUS_CONNECT', message: expect.stringContaining(`cannot connect to NATS at ${url}:`) });
    b.publish(podEvent('pod/running', UUID_A));
    const t0 = Date.now();
    await b.flush();
    await b.close();
    expect(Date.now() - t0).toBeLessThan(500);
    expect(errors.map((e) => e.code)).toEqual(['BUS_CONNECT']);
  });

  it('leaves no socket open after a server that accepts and never speaks', async () => {
    // Half-open, as a server that is not NATS or is frozen: the client's end() alone would leave the socket.
    const peers: Socket[] = [];
    const silent = createServer({ allowHalfOpen: true }, (s) => peers.push(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    const sockets = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
    const before = sockets();
    try {
      const errors: EventBusError[] = [];
      const b = createNatsBus({ servers: `nats://127.0.0.1:${port}`, timeoutMs: 300, onError: (e) => errors.push(e) });
      b.publish(podEvent('pod/prepared', UUID_A));
      await expect(b.ready()).rejects.toMatchObject({ code: 'BUS_CONNECT', message: expect.stringMatching(/timeout/i) });
      await b.close();
      await new Promise((r) => setTimeout(r, 100));
      expect(peers.length).toBeGreaterThan(0);
      // The accepted ends are this process's too; the client's own must be gone.
      expect(sockets()).toBe(before + peers.length);
      expect(errors.map((e) => e.code)).toEqual(['BUS_CONNECT']);
    } finally {
      for (const p of peers) p.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('is refused by a server that wants a token it was not given, and works with it', async () => {
    const guarded = await startNatsServer({ token: 's3cret' });
    try {
      const errors: EventBusError[] = [];
      const without = createNatsBus({ servers: guarded.url, onError: (e) => errors.push(e) });
      await expect(without.ready()).rejects.toMatchObject({ code: 'BUS_CONNECT' });
      await without.close();
      expect(errors[0]!.message).toMatch(/authorization/i);

      const sub = createNatsBus({ servers: guarded.url, token: 's3cret' });
      const got = collector();
      sub.subscribe('pod/', got.handler);
      await sub.flush();
      const pub = createNatsBus({ servers: guarded.url, token: 's3cret' });
      pub.publish(podEvent('pod/prepared', UUID_A));
      await pub.close();
      expect((await got.until(1))[0]!.topic).toBe('pod/prepared');
      await sub.close();
    } finally {
      await guarded.stop();
    }
  });
});

import { AsyncLocalStorage } from 'node:async_hooks';
import { subscribe as subscribeChannel, unsubscribe as unsubscribeChannel } from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import { connect, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { podEventProblem, type EventBus, type PodEvent, type PodEventHandler } from './events.js';
import { checkSubjectPrefix, DEFAULT_NATS_TIMEOUT_MS, DEFAULT_SUBJECT_PREFIX, eventSubject, subscriptionSubject, SUBJECT_TOKEN as TOKEN } from './nats-subjects.js';

export { checkSubjectPrefix, DEFAULT_NATS_TIMEOUT_MS, DEFAULT_SUBJECT_PREFIX, eventSubject, subscriptionSubject } from './nats-subjects.js';

export type EventBusErrorCode =
  /** The bus's options: a subject prefix that is not a NATS subject, no server. */
  | 'BUS_OPTIONS'
  /** The server could not be reached or refused the connection. */
  | 'BUS_CONNECT'
  /** Events published could not be confirmed as received by the server. */
  | 'BUS_PUBLISH'
  /** A message on a subscribed subject is not a pod event. */
  | 'BUS_MESSAGE';

export class EventBusError extends Error {
  readonly code: EventBusErrorCode;
  constructor(code: EventBusErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'EventBusError';
    this.code = code;
  }
}

export interface NatsBusOptions {
  /** `nats://host:port` (or `tls://`), one or several of a cluster. */
  servers: string | readonly string[];
  /** The first tokens of every subject; `rkt` by default. */
  subjectPrefix?: string;
  user?: string;
  password?: string;
  token?: string;
  /**
   * TLS, required of the server (a `tls://` server asks for it too): `caFile` names the PEM file of the CA
   * that signed its certificate, when the system's roots do not.
   */
  tls?: { caFile?: string };
  /** How long to wait for the first connection, and for the server to confirm what was published. */
  timeoutMs?: number;
  /** The connection's name, as the server's monitoring shows it. */
  name?: string;
  /**
   * How many times to try again after the connection is lost: -1 for ever (a long-lived subscriber), the
   * client's default (10, 2 s apart) otherwise. Events published meanwhile wait in the client.
   */
  maxReconnectAttempts?: number;
  /** Told when an established connection is lost and when it is back. */
  onStatus?: (status: 'disconnected' | 'reconnected') => void;
  /**
   * Told of each failure the bus cannot throw at its caller (publish never throws): a lost connection,
   * events the server never confirmed, a message that is not an event. Once per connection failure.
   */
  onError?: (err: EventBusError) => void;
}

/** A bus whose events travel through a NATS server, so that other processes and hosts see them. */
export interface NatsBus extends EventBus {
  readonly subjectPrefix: string;
  /** As EventBus's, and `podUuid` narrows it to one pod's events, on the server. */
  subscribe(prefix: string, handler: PodEventHandler, options?: { podUuid?: string }): () => void;
  /** Resolves once connected; rejects with a `BUS_CONNECT` EventBusError. */
  ready(): Promise<void>;
  /** Waits until the server has every event published so far (or the timeout); never rejects. */
  flush(): Promise<void>;
  /** Flushes, then closes the connection; subscriptions end. Never rejects. */
  close(): Promise<void>;
  /**
   * Resolves once the connection has ended for good: undefined after close(), the error when it never came
   * up or the client gave up reconnecting (a subscriber's cue to stop).
   */
  closed(): Promise<EventBusError | undefined>;
}

interface SubRecord {
  readonly prefix: string;
  readonly podUuid: string | undefined;
  readonly handler: PodEventHandler;
  nats?: Subscription;
  removed: boolean;
}

async function watchStatus(nc: NatsConnection, onStatus: (status: 'disconnected' | 'reconnected') => void): Promise<void> {
  try {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') owner.exit(() => onStatus('disconnected'));
      else if (s.type === 'reconnect') owner.exit(() => onStatus('reconnected'));
    }
  } catch {
    // The iterator ends with the connection; a failure of it is the connection's, reported by closed().
  }
}

/**
 * The sockets a bus's client opens. The client (nats.js 3.3) leaves the socket of an attempt that timed out
 * open: ended but not destroyed after a server that accepted and never spoke, still dialling an unreachable
 * host (for as long as the kernel's SYN retries, ~127 s). Either keeps the process alive after close(), for
 * ever in the first case. Every socket `net.connect` makes is announced on the `net.client.socket`
 * channel, in the async context of the code that asked for it: the client's dials, started inside the
 * bus's `owner.run`, are told from any other code's sockets that way, and destroyed when the bus is done.
 */
const owner = new AsyncLocalStorage<Set<Socket>>();
let tracking = 0;
const onClientSocket = (message: unknown): void => {
  const socket = (message as { socket?: Socket }).socket;
  const store = owner.getStore();
  if (socket === undefined || store === undefined) return;
  store.add(socket);
  // A subscriber that retries for days must not keep every attempt's socket.
  socket.once('close', () => store.delete(socket));
};

function trackSockets(): { sockets: Set<Socket>; release(): void } {
  const sockets = new Set<Socket>();
  if (tracking++ === 0) subscribeChannel('net.client.socket', onClientSocket);
  let released = false;
  return {
    sockets,
    release() {
      for (const s of sockets) s.destroy();
      sockets.clear();
      if (released) return;
      released = true;
      if (--tracking === 0) unsubscribeChannel('net.client.socket', onClientSocket);
    },
  };
}

/**
 * Connects at once and returns without waiting: events published before the connection is up are queued
 * and sent in order once it is, so that a lifecycle step never waits for the network. `publish` never
 * throws; failures go to `onError`.
 */
export function createNatsBus(o: NatsBusOptions): NatsBus {
  const servers = typeof o.servers === 'string' ? [o.servers] : [...o.servers];
  if (servers.length === 0) throw new EventBusError('BUS_OPTIONS', 'no NATS server given');
  const subjectPrefix = o.subjectPrefix ?? DEFAULT_SUBJECT_PREFIX;
  const bad = checkSubjectPrefix(subjectPrefix);
  if (bad !== undefined) throw new EventBusError('BUS_OPTIONS', bad);
  const timeoutMs = o.timeoutMs ?? DEFAULT_NATS_TIMEOUT_MS;
  const where = servers.join(',');
  const report = (err: EventBusError) => {
    try {
      // Outside the client's context: a socket the caller's code opens is not the bus's to destroy.
      owner.exit(() => o.onError?.(err));
    } catch {
      // A faulty error handler must not break the publisher either.
    }
  };

  let conn: NatsConnection | undefined;
  let closing = false;
  const queue: PodEvent[] = [];
  const subs = new Set<SubRecord>();

  const send = (nc: NatsConnection, event: PodEvent) => {
    if (!TOKEN.test(event.podUuid)) {
      report(new EventBusError('BUS_PUBLISH', `event ${event.topic}: pod UUID ${JSON.stringify(event.podUuid)} cannot be a NATS subject token; not published`));
      return;
    }
    try {
      nc.publish(eventSubject(subjectPrefix, event), JSON.stringify(event));
    } catch (err) {
      report(new EventBusError('BUS_PUBLISH', `cannot publish ${event.topic} of pod ${event.podUuid} to NATS at ${where}: ${(err as Error).message}`, { cause: err }));
    }
  };

  const received = (rec: SubRecord, msg: Msg) => {
    let event: PodEvent;
    try {
      const parsed: unknown = JSON.parse(msg.string());
      const problem = podEventProblem(parsed);
      if (problem !== undefined) throw new Error(problem);
      event = parsed as PodEvent;
      // The subject is what subscriptions pick by: an envelope that says otherwise is a forgery or a bug.
      const subject = eventSubject(subjectPrefix, event);
      if (msg.subject !== subject) throw new Error(`its topic and pod say ${subject}`);
    } catch (err) {
      report(new EventBusError('BUS_MESSAGE', `message on ${msg.subject} is not a pod event: ${(err as Error).message}`, { cause: err }));
      return;
    }
    if (!event.topic.startsWith(rec.prefix)) return;
    try {
      owner.exit(() => rec.handler(event));
    } catch {
      // As on the in-process bus: a faulty subscriber breaks nothing else.
    }
  };

  const attach = (nc: NatsConnection, rec: SubRecord) => {
    rec.nats = nc.subscribe(subscriptionSubject(subjectPrefix, rec.prefix, rec.podUuid), {
      callback: (err, msg) => {
        if (err === null) received(rec, msg);
      },
    });
  };

  const tracked = trackSockets();
  const connecting: Promise<NatsConnection> = owner.run(tracked.sockets, () => connect({
    servers,
    timeout: timeoutMs,
    name: o.name ?? 'rkt-ts',
    ...(o.user !== undefined ? { user: o.user } : {}),
    ...(o.password !== undefined ? { pass: o.password } : {}),
    ...(o.token !== undefined ? { token: o.token } : {}),
    ...(o.maxReconnectAttempts !== undefined ? { maxReconnectAttempts: o.maxReconnectAttempts } : {}),
    // The client asks for TLS only when given this option: a `tls://` URL alone would let it talk in clear
    // text (credentials included) to a server that offers no TLS.
    ...(o.tls !== undefined || servers.some((s) => s.startsWith('tls://')) ? { tls: o.tls?.caFile !== undefined ? { caFile: o.tls.caFile } : {} } : {}),
  })).then(
    (nc) => {
      conn = nc;
      if (o.onStatus !== undefined) void watchStatus(nc, o.onStatus);
      for (const event of queue.splice(0)) send(nc, event);
      for (const rec of subs) if (!rec.removed) attach(nc, rec);
      return nc;
    },
    (err: unknown) => {
      queue.length = 0;
      tracked.release();
      const failure = new EventBusError('BUS_CONNECT', `cannot connect to NATS at ${where}: ${(err as Error).message}`, { cause: err });
      report(failure);
      throw failure;
    },
  );
  // The failure was reported; ready() rethrows it to whoever asks.
  connecting.catch(() => {});

  /** `promise`, or undefined after `ms`, with the timer cleared either way (it must not keep the process up). */
  const within = async <T>(promise: Promise<T>, ms: number): Promise<T | undefined> => {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([promise, new Promise<undefined>((resolve) => (timer = setTimeout(resolve, ms, undefined)))]);
    } finally {
      clearTimeout(timer);
    }
  };

  const flush = async (): Promise<void> => {
    let nc: NatsConnection;
    try {
      nc = await connecting;
    } catch {
      return;
    }
    if (nc.isClosed()) return;
    const done = await within(
      nc.flush().then(
        () => true,
        (err: unknown) => {
          report(new EventBusError('BUS_PUBLISH', `NATS at ${where} did not confirm the events: ${(err as Error).message}`, { cause: err }));
          return true;
        },
      ),
      timeoutMs,
    );
    if (done === undefined) report(new EventBusError('BUS_PUBLISH', `NATS at ${where} did not confirm the events within ${timeoutMs} ms`));
  };

  return {
    subjectPrefix,
    publish(event) {
      if (closing) return;
      if (conn === undefined) queue.push(event);
      else send(conn, event);
    },
    subscribe(prefix, handler, options) {
      const podUuid = options?.podUuid;
      if (podUuid !== undefined && !TOKEN.test(podUuid)) throw new EventBusError('BUS_OPTIONS', `pod UUID ${JSON.stringify(podUuid)} cannot be a NATS subject token`);
      const rec: SubRecord = { prefix, podUuid, handler, removed: false };
      subs.add(rec);
      if (conn !== undefined) attach(conn, rec);
      return () => {
        rec.removed = true;
        subs.delete(rec);
        rec.nats?.unsubscribe();
      };
    },
    async ready() {
      await connecting;
    },
    flush,
    closed() {
      return connecting.then(
        (nc) =>
          nc.closed().then((err) =>
            err === undefined || closing ? undefined : new EventBusError('BUS_CONNECT', `lost the connection to NATS at ${where}: ${err.message}`, { cause: err }),
          ),
        (failure: EventBusError) => failure,
      );
    },
    async close() {
      if (closing) return;
      await flush();
      closing = true;
      let nc: NatsConnection;
      try {
        nc = await connecting;
      } catch {
        return;
      }
      // close() rather than drain(): what was published is flushed above, and a drain would wait for
      // subscribers' pending messages, which a closing subscriber does not want.
      await within(nc.close().catch(() => {}), timeoutMs);
      // What a failed reconnect attempt left open, and the connection's own socket if close() timed out.
      tracked.release();
    },
  };
}

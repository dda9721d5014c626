import { isoNow } from './time.js';

/** The lifecycle topics, named like paths as containerd's are. */
export const POD_TOPICS = [
  'pod/prepared',
  'pod/running',
  'pod/exited',
  'pod/marked',
  'pod/garbage-collected',
  'pod/removed',
  'pod/stopped',
  'app/added',
  'app/started',
  'app/exited',
  'app/removed',
] as const;
export type PodTopic = (typeof POD_TOPICS)[number];

/**
 * One event: the envelope every transport carries unchanged (JSON-serialisable). A transport that
 * receives events validates them with `podEventSchema` (event-schema.ts); publishing needs no zod,
 * which `rkt run` must not load.
 */
export interface PodEvent {
  /** RFC 3339 with milliseconds. */
  timestamp: string;
  topic: PodTopic;
  podUuid: string;
  payload: Record<string, unknown>;
}

export type PodEventHandler = (event: PodEvent) => void;

/**
 * Where lifecycle events go. Transport-free on purpose: the in-process bus below, or a NATS one
 * later, implement the same two calls. `publish` never throws at the publisher: an event bus must
 * not fail the transition it reports.
 */
export interface EventBus {
  publish(event: PodEvent): void;
  /** Waits until what was published is delivered (a bus across processes: its server has it); never rejects. */
  flush?(): Promise<void>;
  /** `prefix` matches topics by path prefix: `pod/` gets every pod transition, '' everything. */
  subscribe(prefix: string, handler: PodEventHandler): () => void;
}

/** RFC 3339, as `isoNow` writes it (and with any fraction or offset another writer may use). */
export const EVENT_TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;
/** A pod UUID as an event carries it: letters, digits, '-' and '_' (no dot, wildcard, space or control). */
export const EVENT_POD_UUID = /^[A-Za-z0-9_-]+$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The first thing that keeps `v` from being a `PodEvent`, as `field: rule`, or undefined. What
 * `podEventSchema` accepts, checked by hand: the NATS bus checks every message it receives, and a bundle
 * that shares a module with its lazily loaded bus would otherwise load zod at every start.
 */
export function podEventProblem(v: unknown): string | undefined {
  if (!isObject(v)) return '(the event): must be an object';
  if (typeof v.timestamp !== 'string' || !EVENT_TIMESTAMP.test(v.timestamp)) return 'timestamp: must be an RFC 3339 time';
  if (typeof v.topic !== 'string' || !(POD_TOPICS as readonly string[]).includes(v.topic)) return `topic: must be one of ${POD_TOPICS.join(', ')}`;
  if (typeof v.podUuid !== 'string' || !EVENT_POD_UUID.test(v.podUuid)) return 'podUuid: must be a UUID (letters, digits, "-" and "_")';
  if (!isObject(v.payload)) return 'payload: must be an object';
  return undefined;
}

export function podEvent(topic: PodTopic, podUuid: string, payload: Record<string, unknown> = {}): PodEvent {
  return { timestamp: isoNow(), topic, podUuid, payload };
}

/** The default bus: handlers in this process, called synchronously in subscription order. */
export function createInProcessBus(): EventBus {
  const subs = new Set<{ prefix: string; handler: PodEventHandler }>();
  return {
    publish(event) {
      for (const s of subs) {
        if (!event.topic.startsWith(s.prefix)) continue;
        try {
          s.handler(event);
        } catch {
          // A faulty subscriber must not break the lifecycle step that published.
        }
      }
    },
    subscribe(prefix, handler) {
      const sub = { prefix, handler };
      subs.add(sub);
      return () => {
        subs.delete(sub);
      };
    },
  };
}

import { EVENT_POD_UUID, POD_TOPICS, type PodEvent } from './events.js';

// The NATS bus's subjects, apart from its client (which only the bus loads): the CLI checks a configured
// prefix on every pod command, and must not pay the client's load for it.

export const DEFAULT_SUBJECT_PREFIX = 'rkt';
/** How long a bus waits for its connection and for the server to confirm the events, unless told (`timeoutMs`). */
export const DEFAULT_NATS_TIMEOUT_MS = 2000;
/** One token of a subject, as the bus writes them: no wildcard, dot or space (a pod UUID is one). */
export const SUBJECT_TOKEN = EVENT_POD_UUID;

/**
 * The subject an event is published on: `<prefix>.<kind>.<action>.<pod UUID>`, e.g.
 * `rkt.pod.exited.5f3c…`, so that a subscriber can pick by topic (`rkt.pod.>`) or by pod (`rkt.*.*.<uuid>`).
 */
export function eventSubject(prefix: string, event: Pick<PodEvent, 'topic' | 'podUuid'>): string {
  return `${prefix}.${event.topic.replace('/', '.')}.${event.podUuid}`;
}

/**
 * The narrowest subject that carries every topic starting with `topicPrefix` (the in-process bus's prefix
 * match): a whole topic, a `kind/`, or anything else (then everything, filtered on arrival).
 */
export function subscriptionSubject(prefix: string, topicPrefix: string, podUuid?: string): string {
  const pod = podUuid ?? '*';
  if ((POD_TOPICS as readonly string[]).includes(topicPrefix)) return `${prefix}.${topicPrefix.replace('/', '.')}.${pod}`;
  const kind = /^([a-z]+)\/$/.exec(topicPrefix)?.[1];
  if (kind !== undefined) return `${prefix}.${kind}.*.${pod}`;
  return `${prefix}.*.*.${pod}`;
}

export function checkSubjectPrefix(prefix: string): string | undefined {
  if (prefix.split('.').every((t) => SUBJECT_TOKEN.test(t))) return undefined;
  return `subject prefix ${JSON.stringify(prefix)} is not a NATS subject of plain tokens (letters, digits, "_" and "-", joined by ".")`;
}

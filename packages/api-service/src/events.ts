import type { PodEvent } from '@rkt/controller';
import type { KeyValue } from './messages.js';

/** rkt's EventType names. */
export type EventTypeName =
  | 'EVENT_TYPE_POD_PREPARED'
  | 'EVENT_TYPE_POD_PREPARE_ABORTED'
  | 'EVENT_TYPE_POD_STARTED'
  | 'EVENT_TYPE_POD_EXITED'
  | 'EVENT_TYPE_POD_GARBAGE_COLLECTED'
  | 'EVENT_TYPE_APP_STARTED'
  | 'EVENT_TYPE_APP_EXITED'
  | 'EVENT_TYPE_IMAGE_IMPORTED'
  | 'EVENT_TYPE_IMAGE_REMOVED';

export interface ApiEvent {
  readonly type: EventTypeName;
  /** The pod's UUID. */
  readonly id: string;
  /** The app's name for an app event; the pod's UUID for a pod event (rkt-ts's pods have no other name). */
  readonly from: string;
  /** Seconds since the epoch (int64 as decimal text). */
  readonly time: string;
  readonly data: readonly KeyValue[];
}

/** An EventFilter as decoded. */
export interface EventFilter {
  readonly types: readonly (EventTypeName | number)[];
  readonly ids: readonly string[];
  readonly names: readonly string[];
  readonly since_time: string;
  readonly until_time: string;
}

/** rkt-ts's topics that rkt's EventType has a name for; the others (marked, stopped, removed, app added/removed) are not sent. */
const TYPES: Partial<Record<PodEvent['topic'], EventTypeName>> = {
  'pod/prepared': 'EVENT_TYPE_POD_PREPARED',
  'pod/running': 'EVENT_TYPE_POD_STARTED',
  'pod/exited': 'EVENT_TYPE_POD_EXITED',
  'pod/garbage-collected': 'EVENT_TYPE_POD_GARBAGE_COLLECTED',
  'app/started': 'EVENT_TYPE_APP_STARTED',
  'app/exited': 'EVENT_TYPE_APP_EXITED',
};

/** The API's Event for a lifecycle event, or undefined for a topic rkt's EventType lacks. The payload becomes `data`. */
export function toApiEvent(e: PodEvent): ApiEvent | undefined {
  const type = TYPES[e.topic];
  if (type === undefined) return undefined;
  const app = e.topic.startsWith('app/') && typeof e.payload.app === 'string' ? e.payload.app : undefined;
  const data = Object.entries(e.payload)
    .filter(([k]) => !(app !== undefined && k === 'app'))
    .map(([Key, v]) => ({ Key, value: typeof v === 'string' ? v : JSON.stringify(v) }));
  return { type, id: e.podUuid, from: app ?? e.podUuid, time: String(Math.floor(Date.parse(e.timestamp) / 1000)), data };
}

/** Every condition the filter gives holds (types, ids, names: any of theirs; since/until: seconds, when set). */
export function matchesEventFilter(e: ApiEvent, f: EventFilter | null | undefined): boolean {
  if (f === null || f === undefined) return true;
  const t = Number(e.time);
  if (f.types.length > 0 && !f.types.includes(e.type)) return false;
  if (f.ids.length > 0 && !f.ids.includes(e.id)) return false;
  if (f.names.length > 0 && !f.names.includes(e.from)) return false;
  if (Number(f.since_time) > 0 && t < Number(f.since_time)) return false;
  if (Number(f.until_time) > 0 && t > Number(f.until_time)) return false;
  return true;
}

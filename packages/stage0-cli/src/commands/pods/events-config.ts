import { checkSubjectPrefix } from '@rkt/controller/lean';
import { parseDurationFlag } from '../../argv/duration.js';
import { CliError } from '../../errors.js';
import { configDocuments } from './config-docs.js';

/** Where lifecycle events go beyond this process: a NATS server, as `createNatsBus` takes it. */
export interface NatsEventsConfig {
  readonly servers: readonly string[];
  readonly subjectPrefix?: string;
  readonly user?: string;
  readonly password?: string;
  readonly token?: string;
  readonly timeoutMs?: number;
}

export interface EventsConfig {
  readonly nats?: NatsEventsConfig;
}

const NATS_STRINGS = ['subjectPrefix', 'user', 'password', 'token'] as const;
const NATS_FIELDS = new Set<string>(['servers', 'timeout', ...NATS_STRINGS]);

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** The `nats` object's fields that one document sets, or the first thing wrong with it as `field: rule`. */
function natsFields(raw: unknown): Partial<Mutable<NatsEventsConfig>> | string {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return `nats: must be an object, got ${JSON.stringify(raw)}`;
  const doc = raw as Record<string, unknown>;
  const out: Partial<Mutable<NatsEventsConfig>> = {};
  for (const key of Object.keys(doc)) {
    if (!NATS_FIELDS.has(key)) return `nats.${key}: unknown field (known: ${[...NATS_FIELDS].join(', ')})`;
  }
  if (doc.servers !== undefined) {
    const list = typeof doc.servers === 'string' ? [doc.servers] : doc.servers;
    if (!Array.isArray(list) || list.length === 0) return `nats.servers: must be a server URL or a non-empty list of them, got ${JSON.stringify(doc.servers)}`;
    for (const [i, s] of list.entries()) {
      if (typeof s !== 'string' || !/^((nats|tls):\/\/)?[^\s/]+$/.test(s)) {
        return `nats.servers[${i}]: must be nats://HOST:PORT or tls://HOST:PORT, got ${JSON.stringify(s)}`;
      }
    }
    out.servers = list as string[];
  }
  for (const key of NATS_STRINGS) {
    const v = doc[key];
    if (v === undefined) continue;
    if (typeof v !== 'string') return `nats.${key}: must be a string, got ${JSON.stringify(v)}`;
    out[key] = v;
  }
  if (out.subjectPrefix !== undefined) {
    const bad = checkSubjectPrefix(out.subjectPrefix);
    if (bad !== undefined) return `nats.subjectPrefix: ${bad}`;
  }
  if (doc.timeout !== undefined) {
    if (typeof doc.timeout !== 'string') return `nats.timeout: must be a duration such as "2s", got ${JSON.stringify(doc.timeout)}`;
    try {
      out.timeoutMs = parseDurationFlag('timeout', doc.timeout);
    } catch {
      return `nats.timeout: must be a duration such as "2s", got ${JSON.stringify(doc.timeout)}`;
    }
    if (out.timeoutMs <= 0) return `nats.timeout: must be more than 0`;
  }
  return out;
}

/**
 * The event configuration (`events.d/*.json`, kind "events", in the system then the local config directory):
 * later directories and file names win, field by field. Undefined when no file names a bus, which is what
 * most hosts have: two failed stats.
 */
export function readEventsConfig(dirs: readonly string[]): EventsConfig | undefined {
  let nats: Partial<Mutable<NatsEventsConfig>> | undefined;
  let last = '';
  for (const { path, doc } of configDocuments(dirs, 'events', 'events')) {
    if (doc.rktVersion !== 'v1') throw new CliError('CLI_BAD_ARGS', `events configuration ${path}: rktVersion: must be "v1"`);
    if (doc.nats === undefined) continue;
    const fields = natsFields(doc.nats);
    if (typeof fields === 'string') throw new CliError('CLI_BAD_ARGS', `events configuration ${path}: ${fields}`);
    nats = { ...nats, ...fields };
    last = path;
  }
  if (nats === undefined) return undefined;
  if (nats.servers === undefined) throw new CliError('CLI_BAD_ARGS', `events configuration ${last}: nats.servers: missing (no file names a server)`);
  return { nats: nats as NatsEventsConfig };
}

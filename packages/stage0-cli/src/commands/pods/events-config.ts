import { checkSubjectPrefix } from '@rkt/controller/lean';
import type { NatsBusOptions } from '@rkt/controller/nats';
import { parseDurationFlag } from '../../argv/duration.js';
import { CliError } from '../../errors.js';
import { configDirsOf, configDocuments, type ConfigDirOptions } from './config-docs.js';

/** Where lifecycle events go beyond this process: a NATS server, as `createNatsBus` takes it. */
export interface NatsEventsConfig {
  readonly servers: readonly string[];
  readonly subjectPrefix?: string;
  readonly user?: string;
  readonly password?: string;
  readonly token?: string;
  /** The PEM file of the CA that signed a `tls://` server's certificate. */
  readonly caFile?: string;
  readonly timeoutMs?: number;
}

export interface EventsConfig {
  readonly nats?: NatsEventsConfig;
}

const NATS_STRINGS = ['subjectPrefix', 'user', 'password', 'token', 'caFile'] as const;
const TOP_FIELDS = new Set(['rktKind', 'rktVersion', 'nats']);
// setTimeout's limit is ~24.8 days; nobody waits an hour for an event bus.
const MAX_TIMEOUT_MS = 3600_000;
const SERVER = /^(?:(nats|tls):\/\/)?([^\s/@:[\]]+|\[[0-9A-Fa-f:.]+\])(?::(\d+))?$/;

/** The first thing wrong with one server URL, or undefined. */
function serverProblem(s: unknown): string | undefined {
  if (typeof s !== 'string') return `must be nats://HOST:PORT or tls://HOST:PORT, got ${JSON.stringify(s)}`;
  if (/^[a-z]+:\/\/[^/]*@/.test(s)) return 'credentials do not go in the URL: give them as "user" and "password", or "token"';
  const m = SERVER.exec(s);
  if (m === null) return `must be nats://HOST:PORT or tls://HOST:PORT, got ${JSON.stringify(s)}`;
  const port = m[3] === undefined ? 4222 : Number(m[3]);
  if (port < 1 || port > 65535) return `port ${m[3]} is not between 1 and 65535`;
  return undefined;
}
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
      const problem = serverProblem(s);
      if (problem !== undefined) return `nats.servers[${i}]: ${problem}`;
    }
    const schemes = new Set((list as string[]).map((s) => (s.startsWith('tls://') ? 'tls' : 'nats')));
    if (schemes.size > 1) return 'nats.servers: all nats:// or all tls:// (TLS is required of every server or of none)';
    out.servers = list as string[];
  }
  for (const key of NATS_STRINGS) {
    const v = doc[key];
    if (v === undefined) continue;
    if (typeof v !== 'string') return `nats.${key}: must be a string, got ${JSON.stringify(v)}`;
    out[key] = v;
  }
  if (out.caFile !== undefined && !out.caFile.startsWith('/')) return `nats.caFile: must be an absolute path, got ${JSON.stringify(out.caFile)}`;
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
    if (out.timeoutMs > MAX_TIMEOUT_MS) return `nats.timeout: must be at most 1h, got ${JSON.stringify(doc.timeout)}`;
  }
  return out;
}

/**
 * The event configuration (`events.d/*.json`, kind "events", in the system, local and user config directories):
 * later directories and file names win, field by field. Undefined when no file names a bus, which is what
 * most hosts have: two failed stats.
 */
export function readEventsConfig(dirs: readonly string[]): EventsConfig | undefined {
  let nats: Partial<Mutable<NatsEventsConfig>> | undefined;
  let last = '';
  for (const { path, doc } of configDocuments(dirs, 'events', 'events')) {
    const unknown = Object.keys(doc).find((k) => !TOP_FIELDS.has(k));
    if (unknown !== undefined) throw new CliError('CLI_BAD_ARGS', `events configuration ${path}: ${unknown}: unknown field (known: ${[...TOP_FIELDS].join(', ')})`);
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

/**
 * The event configuration every command that publishes applies: the system, the local, then the user
 * configuration directory, as rkt read each of its kinds.
 */
export function eventsConfigOf(globals: ConfigDirOptions): EventsConfig | undefined {
  return readEventsConfig(configDirsOf(globals));
}

/** The bus options of a configuration (its `caFile` is the client's TLS option). */
export function natsBusOptions(nats: NatsEventsConfig): Pick<NatsBusOptions, 'servers' | 'subjectPrefix' | 'user' | 'password' | 'token' | 'timeoutMs' | 'tls'> {
  const { caFile, ...rest } = nats;
  return { ...rest, ...(caFile !== undefined ? { tls: { caFile } } : {}) };
}

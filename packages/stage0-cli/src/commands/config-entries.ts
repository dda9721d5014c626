import type { AuthCredentials } from '@rkt/fetcher';
import { formatDuration } from '../argv/duration.js';
import type { NatsEventsConfig } from './pods/events-config.js';

/** The configuration stage0 applies, merged from the configuration directories as the commands merge it. */
export interface EffectiveConfig {
  /** auth.d's credentials per domain (system, local, then user directory; the later wins per domain). */
  readonly auth: ReadonlyMap<string, AuthCredentials>;
  /** auth.d's dockerAuth credentials per registry (Docker Hub's names as one, `registry-1.docker.io`). */
  readonly dockerAuth: ReadonlyMap<string, { readonly user: string; readonly password: string }>;
  /** The data directory (`--dir`, else paths.d's `data`, else the default; absolute). */
  readonly data: string;
  /** Where `--stage1-from-dir` looks. */
  readonly stage1Images: string;
  /** The default stage1: the configured name and version (looked for in the store first), then a location. */
  readonly stage1: { readonly name?: string; readonly version?: string; readonly location?: string };
  /** The event bus events.d names, if any; its unset options take the bus's defaults. */
  readonly events?: NatsEventsConfig;
  /** The defaults of the event bus's options (`@rkt/controller`'s). */
  readonly eventDefaults: { readonly subjectPrefix: string; readonly timeoutMs: number };
}

type Entry = Readonly<Record<string, unknown>>;

/** Only the fields that have a value, in the order given: rkt printed unset ones empty, which meant the same. */
function defined(fields: Record<string, unknown>): Entry {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}

/**
 * `rkt config`'s document, as rkt's `Config.MarshalJSON` made it: `{"stage0": [...]}`, each entry a valid
 * configuration file of its kind (`rktVersion`, `rktKind`, then its fields), one `auth` entry per domain,
 * one `dockerAuth` entry per registry, then `paths` and `stage1`; then rkt-ts's own `events` when a bus is configured. Domains are sorted (rkt
 * printed them in Go's map order, a different one each time).
 */
export function configEntries(config: EffectiveConfig): { stage0: Entry[] } {
  const stage0: Entry[] = [];
  for (const domain of [...config.auth.keys()].sort()) {
    const auth = config.auth.get(domain)!;
    const credentials = auth.type === 'basic' ? { user: auth.credentials.user, password: auth.credentials.password } : { token: auth.credentials.token };
    stage0.push({ rktVersion: 'v1', rktKind: 'auth', domains: [domain], type: auth.type, credentials });
  }
  for (const registry of [...config.dockerAuth.keys()].sort()) {
    const { user, password } = config.dockerAuth.get(registry)!;
    stage0.push({ rktVersion: 'v1', rktKind: 'dockerAuth', registries: [registry], credentials: { user, password } });
  }
  stage0.push({ rktVersion: 'v1', rktKind: 'paths', data: config.data, 'stage1-images': config.stage1Images });
  stage0.push(defined({ rktVersion: 'v1', rktKind: 'stage1', name: config.stage1.name, version: config.stage1.version, location: config.stage1.location }));
  const nats = config.events;
  if (nats !== undefined) {
    stage0.push({
      rktVersion: 'v1',
      rktKind: 'events',
      nats: defined({
        servers: [...nats.servers],
        subjectPrefix: nats.subjectPrefix ?? config.eventDefaults.subjectPrefix,
        user: nats.user,
        password: nats.password,
        token: nats.token,
        caFile: nats.caFile,
        timeout: formatDuration(nats.timeoutMs ?? config.eventDefaults.timeoutMs),
      }),
    });
  }
  return { stage0 };
}

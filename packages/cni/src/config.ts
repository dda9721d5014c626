import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CniError } from './errors.js';
import type { NetList } from './net-list.js';

/** A CNI network configuration, as far as the runtime reads it; every other field goes to the plugin as is. */
export interface NetConf {
  readonly cniVersion?: string;
  readonly name: string;
  readonly type: string;
  readonly ipMasq?: boolean;
  readonly ipam?: { readonly type?: string; readonly dataDir?: string; readonly [k: string]: unknown };
  readonly [k: string]: unknown;
}

/** A network the pod joins: its configuration and where it came from. */
export interface LoadedNet {
  readonly conf: NetConf;
  /** The configuration file (`<local-config>/net.d/NAME.conf`), or the built-in's name (`99-default.conf`). */
  readonly source: string;
  /** The file name its copy gets in the pod directory's `net/`. */
  readonly fileName: string;
  /** CNI_ARGS from the `--net` list. */
  readonly args: string;
  /**
   * One of rkt's built-in networks (not a user's file of that name): its subnet is the machine's, whatever
   * the data directory, and so are its leases (pod-networks.ts, BUILTIN_IPAM_DATA_DIR).
   */
  readonly builtin: boolean;
}

/**
 * rkt's two built-in networks (its stage1's `etc/rkt/net.d/99-default.conf` and `99-default-restricted.conf`):
 * `default`, a veth pair to the host on 172.16.28.0/24 with the default route and masquerading, and
 * `default-restricted`, on 172.17.0.0/16 with neither, which reaches the host only. The CNI version is
 * 0.3.1 rather than rkt's 0.1.0: the same plugins, and a result that names the interfaces.
 */
export const BUILTIN_NETS: Readonly<Record<'default' | 'default-restricted', NetConf>> = {
  default: {
    cniVersion: '0.3.1',
    name: 'default',
    type: 'ptp',
    ipMasq: true,
    ipam: { type: 'host-local', subnet: '172.16.28.0/24', routes: [{ dst: '0.0.0.0/0' }] },
  },
  'default-restricted': {
    cniVersion: '0.3.1',
    name: 'default-restricted',
    type: 'ptp',
    ipMasq: false,
    ipam: { type: 'host-local', subnet: '172.17.0.0/16' },
  },
};

/** The user's network configurations: `<local-config>/net.d/`, rkt's `/etc/rkt/net.d`. */
export function userNetDir(localConfig: string): string {
  return join(localConfig, 'net.d');
}

/** Reads one configuration file: JSON with a non-empty `name` and `type`, or one line naming the file. */
export function readNetConf(path: string): NetConf {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CniError('CNI_CONFIG', `error loading ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new CniError('CNI_CONFIG', `error loading ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new CniError('CNI_CONFIG', `error loading ${path}: not a JSON object`);
  const o = doc as Record<string, unknown>;
  for (const key of ['name', 'type'] as const) {
    if (typeof o[key] !== 'string' || o[key] === '') throw new CniError('CNI_CONFIG', `error loading ${path}: "${key}" must be a non-empty string`);
  }
  if (o.ipam !== undefined && (typeof o.ipam !== 'object' || o.ipam === null || Array.isArray(o.ipam))) {
    throw new CniError('CNI_CONFIG', `error loading ${path}: "ipam" must be an object`);
  }
  return o as unknown as NetConf;
}

/**
 * The networks a pod joins, as rkt's stage1 loaded them (networking/podenv.go): every `*.conf` of the user's
 * directory in lexical order, each parsed (a bad one fails the pod, whichever network it defines), kept when
 * the list names it or says `all`, the first of a name winning (the others noted); then, unless the user's
 * files gave `default` or `default-restricted` (which override the built-ins), rkt's built-in `default` when
 * the list names it or says `all`, else `default-restricted`: a pod always has a way to the host. A name the
 * list asks for that nothing defines fails the pod (`networks not found: a, b`).
 */
export function loadNets(localConfig: string, list: NetList, note: (line: string) => void = () => {}): LoadedNet[] {
  const dir = userNetDir(localConfig);
  let files: string[];
  try {
    files = readdirSync(dir, { withFileTypes: true })
      .filter((e) => !e.isDirectory() && e.name.endsWith('.conf'))
      .map((e) => e.name)
      .sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new CniError('CNI_CONFIG', `error loading network definitions from ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
    }
    files = [];
  }
  const nets: LoadedNet[] = [];
  const has = (name: string) => nets.some((n) => n.conf.name === name);
  for (const file of files) {
    const path = join(dir, file);
    const conf = readNetConf(path);
    if (!list.all && !list.args.has(conf.name)) continue;
    if (conf.name === 'default' || conf.name === 'default-restricted') note(`overriding "${conf.name}" network with ${file}`);
    if (has(conf.name)) {
      note(`"${conf.name}" network already defined, ignoring ${file}`);
      continue;
    }
    nets.push({ conf, source: path, fileName: file, args: list.args.get(conf.name) ?? '', builtin: false });
  }
  if (!has('default') && !has('default-restricted')) {
    const builtin = list.args.has('default') || list.all ? 'default' : 'default-restricted';
    nets.push({ conf: BUILTIN_NETS[builtin], source: `built-in ${builtin}`, fileName: `99-${builtin}.conf`, args: list.args.get(builtin) ?? '', builtin: true });
  }
  const missing = list.names.filter((n) => n !== 'all' && !has(n));
  if (missing.length > 0) throw new CniError('CNI_CONFIG', `networks not found in ${dir}: ${missing.join(', ')}`);
  return nets;
}

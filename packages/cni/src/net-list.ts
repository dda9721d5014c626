import { CniError } from './errors.js';

/**
 * rkt's `--net` list as the stage1's run gets it (`--net=default,mynet:IP=10.1.0.9`): the networks to join,
 * each with the CNI_ARGS given to it. `all` joins every network of the configuration directory.
 */
export interface NetList {
  /** The names in their order, `all` included when given. */
  readonly names: readonly string[];
  /** CNI_ARGS by network name (`K1=V1;K2=V2`); '' without any. */
  readonly args: ReadonlyMap<string, string>;
  readonly all: boolean;
}

/**
 * Parses rkt's list (common.NetList's rules, in its words): a comma between networks, `NAME[:ARGS]` each, no
 * empty or duplicate name, no arguments to a special network, at most one colon.
 */
export function parseNetList(value: string): NetList {
  const names: string[] = [];
  const args = new Map<string, string>();
  for (const item of value.split(',')) {
    const parts = item.split(':');
    const name = parts[0]!;
    if (name === '') throw new CniError('CNI_NET_LIST', 'netname must not be empty');
    if (args.has(name)) throw new CniError('CNI_NET_LIST', `found duplicate netname "${name}"`);
    if (parts.length > 2) throw new CniError('CNI_NET_LIST', `network "${name}" provided with invalid arguments: [${parts.slice(1).join(' ')}]`);
    if (parts.length === 2 && (name === 'all' || name === 'host' || name === 'none')) {
      throw new CniError('CNI_NET_LIST', `arguments are not supported by special netname "${name}"`);
    }
    if (name === 'host' || name === 'none') throw new CniError('CNI_NET_LIST', `"${name}" is not a CNI network`);
    names.push(name);
    args.set(name, parts[1] ?? '');
  }
  return { names, args, all: args.has('all') };
}

/** Whether the list asks for a network by its name (not through `all`). */
export function netListNames(list: NetList, name: string): boolean {
  return list.args.has(name);
}

import type { CommandContext } from '../../command.js';
import { CliError } from '../../errors.js';
import { checkNet } from './flags.js';

/**
 * `--net` of rkt run and run-prepared, checked before anything is prepared or run: the pod's network, `host`
 * (also without the flag), `none`, or rkt's list of CNI networks (`default`, `default-restricted`, networks
 * of `<local-config>/net.d` with their `:CNI_ARGS`, `all`), returned as rkt's stage0 passed it to the stage1
 * (`default,mynet:IP=10.1.0.9`). Each item is checked as rkt's NetList checked it, in its words, flag by flag
 * (a duplicate, in one value or across flags, before its name's meaning); then `host` and `none` must be
 * alone: a pod has one network namespace, the host's or its own.
 */
export function checkNetFlag(ctx: CommandContext): string {
  const named = new Set<string>();
  const items: string[] = [];
  const from = new Map<string, string>();
  for (const given of ctx.flags.strings('net')) {
    for (const value of given.split(',')) {
      const wrong = checkNet(value, named);
      if (wrong !== undefined) throw new CliError('CLI_BAD_FLAG_VALUE', `--net=${given}: ${wrong}`);
      const name = value.split(':')[0]!;
      named.add(name);
      from.set(name, given);
      items.push(value);
    }
  }
  if (items.length === 0) return 'host';
  const host = from.get('host');
  const none = from.get('none');
  const both = (a: string, b: string) => (a === b ? `--net=${a}` : `--net=${a} and --net=${b}`);
  if (host !== undefined && none !== undefined) {
    throw new CliError('CLI_BAD_FLAG_VALUE', `${both(host, none)}: "host" (the host's network) and "none" (a loopback of the pod's own) cannot be combined`);
  }
  for (const [special, what] of [['host', "the host's network"], ['none', "a loopback of the pod's own"]] as const) {
    const flag = from.get(special);
    if (flag === undefined) continue;
    const other = items.find((i) => i !== special);
    if (other !== undefined) {
      throw new CliError('CLI_BAD_FLAG_VALUE', `${both(flag, from.get(other.split(':')[0]!)!)}: "${special}" (${what}) cannot be combined with other networks`);
    }
    return special;
  }
  return items.join(',');
}

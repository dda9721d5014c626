import type { CommandContext } from '../../command.js';
import { CliError } from '../../errors.js';
import { checkNet } from './flags.js';

/**
 * `--net` of rkt run and run-prepared, checked before anything is prepared or run: the pod's network, `host`
 * (also without the flag) or `none`. Each value is refused in one line where rkt-ts cannot give it, and so is
 * `host` with `none`: a pod has one network namespace, the host's or its own. A network named twice, in one
 * value or across flags, is refused as rkt's NetList refused it (before looking at the name or its arguments).
 */
export function checkNetFlag(ctx: CommandContext): 'host' | 'none' {
  let net: 'host' | 'none' | undefined;
  let first = '';
  // rkt's NetList refused a duplicate, and arguments to a special network, as it parsed each flag in turn,
  // before any network's meaning was looked at.
  const named = new Set<string>();
  for (const given of ctx.flags.strings('net')) {
    for (const value of given.split(',')) {
      const name = value.split(':')[0]!;
      if (named.has(name)) throw new CliError('CLI_BAD_FLAG_VALUE', `--net=${given}: found duplicate netname "${name}"`);
      named.add(name);
      const special = name === 'host' || name === 'none' ? checkNet(value) : undefined;
      if (special !== undefined) throw new CliError('CLI_BAD_FLAG_VALUE', `--net=${given}: ${special}`);
    }
  }
  // rkt's list syntax: a comma between networks, each with optional `:ARGS`.
  for (const given of ctx.flags.strings('net')) {
    for (const value of given.split(',')) {
      const wrong = checkNet(value);
      if (wrong !== undefined) throw new CliError('CLI_BAD_FLAG_VALUE', `--net=${given}: ${wrong}`);
      const mode = value as 'host' | 'none';
      if (net !== undefined && mode !== net) {
        const both = first === given ? `--net=${given}` : `--net=${first} and --net=${given}`;
        throw new CliError('CLI_BAD_FLAG_VALUE', `${both}: "host" (the host's network) and "none" (a loopback of the pod's own) cannot be combined`);
      }
      net = mode;
      first = given;
    }
  }
  return net ?? 'host';
}

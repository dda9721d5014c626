import type { FetchOptions, PullPolicy } from '@rkt/fetcher';
import type { Store } from '@rkt/image-store';
import type { CommandContext } from '../command.js';
import { CliError } from '../errors.js';

/** The warnings one command's fetches have written: a context is one command, and its images share them. */
const warnedByCommand = new WeakMap<CommandContext, Set<string>>();

/**
 * What every command that fetches passes to `fetchImage`: the global options (insecure checks, the three
 * configuration directories for trusted keys, certs.d and auth.d, --trust-keys-from-https), relative paths
 * from the user's working directory, and warnings on the command's stderr.
 */
export function fetchOptions(ctx: CommandContext, store: Store, pullPolicy: PullPolicy): FetchOptions {
  const g = ctx.globals;
  return {
    store,
    insecure: g.insecureOptions,
    pullPolicy,
    systemConfigDir: g.systemConfigDir,
    localConfigDir: g.localConfigDir,
    userConfigDir: g.userConfigDir,
    trustKeysFromHttps: g.trustKeysFromHttps,
    cwd: ctx.cwd,
    stderr: ctx.stderr,
    // `--insecure-options=image` and `tls` are said once for the command, not once per image.
    warned: warnedFor(ctx),
    // Dependencies are fetched and the image rendered now, so that the first run finds its tree ready; the
    // fetch holds its images until then, so a concurrent `rkt image rm` fails cleanly instead of breaking it.
  };
}

function warnedFor(ctx: CommandContext): Set<string> {
  let warned = warnedByCommand.get(ctx);
  if (warned === undefined) {
    warned = new Set();
    warnedByCommand.set(ctx, warned);
  }
  return warned;
}

const PULL_POLICIES: readonly PullPolicy[] = ['new', 'update', 'never'];

/** `--pull-policy` (rkt fetch, run, prepare), refused with the accepted values before anything is fetched. */
export function pullPolicyFlag(ctx: CommandContext): PullPolicy {
  const raw = ctx.flags.string('pull-policy');
  const policy = PULL_POLICIES.find((p) => p === raw);
  if (policy === undefined) {
    throw new CliError('CLI_BAD_FLAG_VALUE', `invalid argument ${JSON.stringify(raw)} for --pull-policy: must be one of ${PULL_POLICIES.join(', ')}`);
  }
  return policy;
}

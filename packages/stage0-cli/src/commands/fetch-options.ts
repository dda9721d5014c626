import type { FetchOptions, PullPolicy } from '@rkt/fetcher';
import type { Store } from '@rkt/image-store';
import type { CommandContext } from '../command.js';

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
    // Dependencies are fetched, but trees are rendered when a pod first needs them (the controller does):
    // a fetch stays an import, which a concurrent `rkt image rm` of the same image cannot make fail halfway.
    render: false,
  };
}

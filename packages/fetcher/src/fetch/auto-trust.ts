import { FetchError, firstLine } from '../errors.js';
import { trustKeys } from '../trust/trust-keys.js';
import type { FetchContext } from './context.js';

/**
 * rkt's `--trust-keys-from-https`: a name with no trusted key gets the keys its discovery publishes, but
 * only keys that arrived over verified https (TLS checks on); anything else is left to `rkt trust`. A
 * discovery miss is only reported: the signature check that follows fails with the precise reason.
 */
export async function maybeTrustKeysFromHttps(ctx: FetchContext, name: string): Promise<void> {
  if (ctx.options.trustKeysFromHttps !== true || ctx.insecure.skipImageCheck || ctx.insecure.skipTlsCheck) return;
  if ((await ctx.keystore.keyringFor(name)).length > 0) return;
  try {
    await trustKeys({
      prefix: name,
      locations: [],
      trustKeysFromHttps: true,
      insecure: ctx.insecure,
      systemConfigDir: ctx.options.systemConfigDir,
      localConfigDir: ctx.options.localConfigDir,
      userConfigDir: ctx.options.userConfigDir,
      network: ctx.network,
      // Keys that did not come over https are never trusted without a review.
      confirm: async () => false,
      warn: (m) => ctx.warn(m),
    });
  } catch (err) {
    if (!(err instanceof FetchError) || (err.code !== 'FETCH_DISCOVERY' && err.code !== 'FETCH_HTTP')) throw err;
    ctx.warn(`warning: no keys trusted from https for ${name}: ${firstLine(err)}`);
  }
}

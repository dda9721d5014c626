import type { CommandContext } from '../command.js';
import { APPC_SPEC_VERSION, RKT_TS_VERSION } from '../build-info.js';

/**
 * rkt's `api-service`: the read-only gRPC API (v1alpha PublicAPI) over this data directory's pods and images,
 * until SIGINT or SIGTERM (exit 0). @rkt/api-service, and grpc-js with it, is loaded here only: no other
 * command pays for it. Requests that fail are logged under --debug (the client gets their status).
 */
export async function run(ctx: CommandContext): Promise<number> {
  const address = ctx.flags.string('listen');
  const { startApiService } = await import('@rkt/api-service');
  const g = ctx.globals;
  const svc = await startApiService({
    dataDir: ctx.dataDir(),
    listen: address,
    info: {
      rkt_version: RKT_TS_VERSION,
      appc_version: APPC_SPEC_VERSION,
      global_flags: {
        dir: ctx.dataDir(),
        system_config_dir: g.systemConfigDir,
        local_config_dir: g.localConfigDir,
        user_config_dir: g.userConfigDir ?? '',
        insecure_flags: ctx.flags.strings('insecure-options').join(','),
        trust_keys_from_https: g.trustKeysFromHttps,
      },
    },
    log: (m) => ctx.log.debug(m),
  });
  ctx.log.debug(`listening on ${address} (port ${svc.port})`);
  ctx.stderr.write('api-service: API service running\n');
  await new Promise<void>((resolve) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => resolve());
  });
  ctx.stderr.write('api-service: API service exiting...\n');
  await svc.close();
  return 0;
}

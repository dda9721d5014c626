import type { CommandContext } from '../command.js';
import { cliEventsConfig } from './pods/common.js';
import { natsBusOptions } from './pods/events-config.js';
import { APPC_SPEC_VERSION, RKT_TS_VERSION } from '../build-info.js';

/**
 * rkt's `api-service`: the read-only gRPC API (v1alpha PublicAPI) over this data directory's pods and images,
 * until SIGINT or SIGTERM (exit 0). @rkt/api-service, and grpc-js with it, is loaded here only: no other
 * command pays for it. Requests that fail are logged under --debug (the client gets their status). With a NATS
 * server in events.d, ListenEvents relays the pod events published there (the client loaded only then).
 */
/** systemd's first passed descriptor (sd_listen_fds(3)). */
const SD_LISTEN_FDS_START = 3;

/**
 * The listening sockets systemd passed (a .socket unit, as rkt's rkt-api.service ran under rkt-api-tcp.socket);
 * none otherwise. LISTEN_PID guards against variables inherited from a parent.
 */
function passedSockets(): number[] {
  const count = Number(process.env.LISTEN_FDS);
  if (Number(process.env.LISTEN_PID) !== process.pid || !Number.isInteger(count) || count < 1) return [];
  return Array.from({ length: count }, (_, i) => SD_LISTEN_FDS_START + i);
}

export async function run(ctx: CommandContext): Promise<number> {
  const address = ctx.flags.string('listen');
  const { parseListen, startApiService } = await import('@rkt/api-service');
  // A bad --listen is one line before anything else starts (the NATS client below).
  parseListen(address);
  const g = ctx.globals;
  // ListenEvents relays the pod events rkt commands publish to events.d's NATS server, as `rkt events` shows them.
  const nats = cliEventsConfig(ctx)?.nats;
  const bus =
    nats === undefined
      ? undefined
      : (await import('@rkt/controller/nats')).createNatsBus({
          ...natsBusOptions(nats),
          name: 'rkt api-service',
          // A long-lived subscriber outlives a server's restart, as `rkt events`.
          maxReconnectAttempts: -1,
          onStatus: (status) => ctx.log.warn(status === 'disconnected' ? `lost the connection to NATS at ${nats.servers.join(',')}; trying again` : 'connected again'),
          onError: (err) => ctx.log.warn(err.message),
        });
  const svc = await startApiService({
    dataDir: ctx.dataDir(),
    listen: address,
    listenFds: passedSockets(),
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
    ...(bus !== undefined ? { events: bus } : {}),
  }).catch(async (err: unknown) => {
    await bus?.close();
    throw err;
  });
  const fds = passedSockets();
  ctx.log.debug(fds.length > 0 ? `serving on the sockets systemd passed, fds ${fds.join(',')} (port ${svc.port})` : `listening on ${address} (port ${svc.port})`);
  ctx.stderr.write('api-service: API service running\n');
  await new Promise<void>((resolve) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => resolve());
  });
  ctx.stderr.write('api-service: API service exiting...\n');
  await svc.close();
  await bus?.close();
  return 0;
}

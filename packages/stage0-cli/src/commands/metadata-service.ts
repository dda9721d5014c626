import { DEFAULT_MDS_SOCKET, startMetadataService } from '@rkt/metadata-service';
import type { CommandContext } from '../command.js';

/** systemd's first passed descriptor (sd_listen_fds(3)). */
const SD_LISTEN_FDS_START = 3;

/**
 * Started by a systemd .socket unit (as rkt's dist/init/systemd/rkt-metadata.socket): the registration
 * socket is already listening on fd 3. LISTEN_PID guards against variables inherited from a parent.
 */
function socketActivated(): boolean {
  return Number(process.env.LISTEN_PID) === process.pid && Number(process.env.LISTEN_FDS) >= 1;
}

/**
 * Runs the metadata service until SIGTERM or SIGINT: registrations on the unix socket, the apps' requests
 * on the TCP port. Registrations are logged; requests only under --debug (their timing included).
 */
export async function run(ctx: CommandContext): Promise<number> {
  const socketPath = ctx.flags.string('mds-socket') || DEFAULT_MDS_SOCKET;
  const svc = await startMetadataService({
    socketPath,
    ...(socketActivated() ? { registrationFd: SD_LISTEN_FDS_START } : {}),
    port: ctx.flags.int('listen-port'),
    log: (m) => (/^(GET|POST|PUT|DELETE|HEAD) /.test(m) ? ctx.log.debug(m) : ctx.stderr.write(`metadata-service: ${m}\n`)),
  });
  await new Promise<void>((resolve) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => resolve());
  });
  await svc.close();
  ctx.stderr.write('metadata-service: stopped\n');
  return 0;
}

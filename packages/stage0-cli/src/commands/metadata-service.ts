import { DEFAULT_MDS_SOCKET, startMetadataService } from '@rkt/metadata-service';
import type { CommandContext } from '../command.js';

/**
 * Runs the metadata service until SIGTERM or SIGINT: registrations on the unix socket, the apps' requests
 * on the TCP port. Registrations are logged; requests only under --debug (their timing included).
 */
export async function run(ctx: CommandContext): Promise<number> {
  const socketPath = ctx.flags.string('mds-socket') || DEFAULT_MDS_SOCKET;
  const svc = await startMetadataService({
    socketPath,
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

import { listApps, type AppState } from '@rkt/controller';
import type { CommandContext } from '../command.js';
import { listingOptions, renderListing } from '../output/listing.js';

/** rkt's lib.App as its JSON had it (`rkt app list --format=json`, `rkt app status --format=json`). */
export function appJson(a: AppState): Record<string, unknown> {
  return {
    name: a.name,
    state: a.state,
    ...(a.createdAt !== undefined ? { created_at: a.createdAt } : {}),
    ...(a.startedAt !== undefined ? { started_at: a.startedAt } : {}),
    ...(a.finishedAt !== undefined ? { finished_at: a.finishedAt } : {}),
    ...(a.exitCode !== undefined ? { exit_code: a.exitCode } : {}),
    image_id: a.imageId,
  };
}

/** `rkt app list UUID` (RKT_EXPERIMENT_APP): NAME and STATE of each app of the pod, as rkt's. */
export async function run(ctx: CommandContext, args: readonly string[]): Promise<void> {
  const apps = await listApps({ dataDir: ctx.dataDir(), uuid: args[0] as string });
  const columns = [
    { header: 'NAME', cell: (a: AppState) => a.name },
    { header: 'STATE', cell: (a: AppState) => a.state },
  ];
  ctx.stdout.write(renderListing(apps, columns, { ...listingOptions(ctx.flags), json: (rows) => rows.map(appJson) }));
}

import { listApps, PodError } from '@rkt/controller';
import type { CommandContext } from '../command.js';
import { CliError } from '../errors.js';
import { appJson } from './app-list.js';
import { goTime } from './pods/times.js';

/** `rkt app status UUID --app=NAME [--format=json|json-pretty]` (RKT_EXPERIMENT_APP): one app's state, as rkt's. */
export async function run(ctx: CommandContext, args: readonly string[]): Promise<void> {
  const app = ctx.flags.string('app');
  if (app === '') throw new CliError('CLI_BAD_ARGS', 'must give the app with --app=NAME', { hint: 'run "rkt help app status" for usage' });
  const uuid = args[0] as string;
  const [found] = await listApps({ dataDir: ctx.dataDir(), uuid, app });
  if (found === undefined) throw new PodError('POD_APP', `cannot find app ${JSON.stringify(app)} in the pod`, { subject: app });
  const format = ctx.flags.string('format');
  if (format === 'json') return void ctx.stdout.write(`${JSON.stringify(appJson(found))}\n`);
  if (format === 'json-pretty') return void ctx.stdout.write(`${JSON.stringify(appJson(found), null, '\t')}\n`);
  const time = (ns: number) => goTime(new Date(ns / 1e6));
  ctx.stdout.write(
    [
      `name=${found.name}`,
      `state=${found.state}`,
      `image_id=${found.imageId}`,
      ...(found.createdAt !== undefined ? [`created_at=${time(found.createdAt)}`] : []),
      ...(found.startedAt !== undefined ? [`started_at=${time(found.startedAt)}`] : []),
      ...(found.finishedAt !== undefined ? [`finished_at=${time(found.finishedAt)}`] : []),
      ...(found.exitCode !== undefined ? [`exit_code=${found.exitCode}`] : []),
      '',
    ].join('\n'),
  );
}

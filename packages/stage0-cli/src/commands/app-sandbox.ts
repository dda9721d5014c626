import { resolve as resolvePath } from 'node:path';
import { portWithoutCniNetProblem, preparePod, runPod } from '@rkt/controller/lean';
import type { CommandContext } from '../command.js';
import { CliError } from '../errors.js';
import { stringMap } from './pods/app-args.js';
import { cliBus, openCliStore, saveUuid } from './pods/common.js';
import { preparedPodRunOptions, runOptionsFromFlags } from './pods/run-options.js';
import { parseSandboxPortFlags } from './pods/sandbox-ports.js';
import { selectStage1 } from './pods/stage1.js';

/**
 * `rkt app sandbox` (RKT_EXPERIMENT_APP): prepares a mutable pod without apps and runs it, as rkt's did, until
 * `rkt stop`; apps come with `rkt app add` and `rkt app start`. Exits with the pod's status.
 */
export async function run(ctx: CommandContext): Promise<number> {
  const options = runOptionsFromFlags(ctx);
  // rkt's sandbox flags for the pod's own userAnnotations and userLabels (the CRI's pod sandbox metadata). Any
  // name, as rkt 1.30 took it: its kvMap and the appc schema's UserLabels/UserAnnotations (plain string maps)
  // checked none against ACIdentifier or ACName rules, and neither did its per-app --user-label of run/prepare/app add.
  const userAnnotations = stringMap('user-annotation', ctx.flags.strings('user-annotation'));
  const userLabels = stringMap('user-label', ctx.flags.strings('user-label'));
  // rkt's sandbox --port (its "podPort" form): forwarded from the pod's start, to whichever app comes to listen.
  // Only into a CNI network: refused before the store is opened, like run's --port.
  const net = options.net ?? 'host';
  const ports = parseSandboxPortFlags(ctx.flags.strings('port'));
  const portWrong = ports.length > 0 ? portWithoutCniNetProblem(ctx.flags.strings('port')[0]!, net) : undefined;
  if (portWrong !== undefined) throw new CliError('CLI_BAD_FLAG_VALUE', portWrong);
  const store = await openCliStore(ctx);
  const hold = store.hold('pod');
  let pod: Awaited<ReturnType<typeof preparePod>>;
  try {
    const stage1ImageId = await selectStage1(ctx, store, { hold, strict: false, dependencies: false });
    const save = ctx.flags.string('uuid-file-save');
    pod = await preparePod({
      dataDir: ctx.dataDir(),
      store,
      stage1ImageId,
      apps: [],
      rootfsMode: ctx.flags.bool('no-overlay') ? 'copy' : 'auto',
      inheritEnv: false,
      net,
      mutable: true,
      ...(ports.length > 0 ? { ports } : {}),
      // rkt's sandbox had no --private-users (its stage0 gave it a blank range); here a mutable pod may have a user
      // namespace of its own as `rkt run --private-users` gives one, and its added apps run in it.
      ...(ctx.flags.bool('private-users') ? { privateUsers: true } : {}),
      ...(userAnnotations !== undefined ? { userAnnotations } : {}),
      ...(userLabels !== undefined ? { userLabels } : {}),
      bus: cliBus(ctx),
      keepLock: true,
      ...(save !== '' ? { onCreated: (uuid: string) => saveUuid(save, resolvePath(ctx.cwd, save), uuid) } : {}),
    });
  } finally {
    await hold.release();
  }
  ctx.log.debug(`mutable pod ${pod.uuid} prepared at ${pod.path}`);
  return runPod({ ...options, dataDir: ctx.dataDir(), ...preparedPodRunOptions(pod), mutable: true });
}

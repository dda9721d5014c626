import type { CommandContext } from '../command.js';
import { CliError } from '../errors.js';
import { namingArgument, openImageStore, outputPath } from './image-common.js';
import { interruptible } from './interruptible.js';

/**
 * `rkt image export IMAGE OUT.aci`: the stored (uncompressed) ACI, whose sha512 is the image ID. ^C, SIGTERM or
 * SIGHUP during the copy remove its temp file, and the command ends with the signal's status.
 */
export async function run(ctx: CommandContext, args: readonly string[]): Promise<number | undefined> {
  const [ref = '', out = ''] = args;
  const dest = outputPath(ctx, out, 'output ACI file');
  const store = await openImageStore(ctx);
  return interruptible(async (signal) => {
    try {
      await store.exportImage(ref, dest, { overwrite: ctx.flags.bool('overwrite'), signal });
    } catch (err) {
      if ((err as { code?: unknown }).code === 'STORE_TARGET' && (err as Error).message === `${dest}: already exists (use overwrite to replace it)`) {
        throw new CliError('CLI_BAD_ARGS', `${out}: output ACI file exists (try --overwrite)`, { cause: err });
      }
      throw namingArgument(err, dest, out);
    }
  });
}

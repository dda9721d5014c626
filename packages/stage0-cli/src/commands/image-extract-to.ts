import { readdirSync, renameSync, statSync, type Stats } from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { CommandContext } from '../command.js';
import { CliError } from '../errors.js';
import { namingArgument, openImageStore, outputPath, refuseOverwriteOf } from './image-common.js';

/** The entry at `p`; undefined when nothing is there or a parent is not a directory (the store says which). */
function statOrUndefined(p: string): Stats | undefined {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
}

/**
 * `image extract` and `image render`: into a new or empty directory, or, with `--overwrite`, in place of an
 * existing one. The old directory is moved aside first and deleted only after the new one is complete, so a
 * failed extraction never leaves the user with neither.
 */
export async function extractTo(ctx: CommandContext, args: readonly string[], withDependencies: boolean): Promise<void> {
  const [ref = '', dir = ''] = args;
  const dest = outputPath(ctx, dir, 'output directory');
  if (ctx.flags.bool('overwrite')) refuseOverwriteOf(ctx, dir, dest);
  const store = await openImageStore(ctx);
  // Resolve first: a bad reference must not touch the directory.
  const img = await store.resolve(ref);
  let aside: string | undefined;
  const existing = statOrUndefined(dest);
  if (existing !== undefined && !existing.isDirectory()) throw new CliError('CLI_BAD_ARGS', `${dir}: exists and is not a directory`);
  if (existing !== undefined && readdirSync(dest).length > 0) {
    if (!ctx.flags.bool('overwrite')) throw new CliError('CLI_BAD_ARGS', `${dir}: output directory exists and is not empty (try --overwrite)`);
    aside = join(dirname(dest), `.${basename(dest)}.old-${process.pid}`);
    renameSync(dest, aside);
  }
  try {
    await store.extractImage(img.id, dest, { rootfsOnly: ctx.flags.bool('rootfs-only'), withDependencies });
  } catch (err) {
    if (aside !== undefined) {
      await rm(dest, { recursive: true, force: true });
      renameSync(aside, dest);
    }
    throw namingArgument(err, dest, dir);
  }
  if (aside !== undefined) await rm(aside, { recursive: true, force: true });
}

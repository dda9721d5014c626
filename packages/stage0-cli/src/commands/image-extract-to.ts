import { readdirSync, renameSync, statSync, type Stats } from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { CommandContext } from '../command.js';
import { CliError } from '../errors.js';
import { fsyncDir, ownerAlive, syncFilesystem, uniqueName } from '@rkt/image-store';
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
 * What a killed extraction into `dest` left beside it: `.<name>.new-<owner>` (a partial tree) is removed, and
 * `.<name>.old-<owner>` (the directory it replaced) is put back if `dest` is missing (killed between the two
 * renames), else removed. Only a dead process's (the store's owner tag: pid and start time, so a reused pid
 * is no owner): another rkt may be extracting there now.
 */
async function clearDebris(dest: string): Promise<void> {
  const parent = dirname(dest);
  const prefix = `.${basename(dest)}.`;
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return;
  }
  for (const n of names) {
    const own = n.startsWith(prefix) ? n.slice(prefix.length) : '';
    const m = /^(new|old)-/.exec(own);
    if (m === null || ownerAlive(own)) continue;
    const path = join(parent, n);
    if (m[1] === 'old' && statOrUndefined(dest) === undefined) renameSync(path, dest);
    else await rm(path, { recursive: true, force: true });
  }
}

/**
 * `image extract` and `image render`: into a new or empty directory, or, with `--overwrite`, in place of an
 * existing one. The tree is made beside it (`.<name>.new-<owner>`) and renamed into place once complete, the
 * old directory moved aside just before and deleted after: a failed or killed extraction never leaves a
 * partial tree under the name, nor the user with neither (a kill -9 once left both a partial tree and the
 * old one, hidden). The next extraction to the same place clears what a killed one left. The tree is flushed
 * (one syncfs of its filesystem, as the store's renders) before its rename, and the rename synced after, so
 * that a finished extraction is one a power cut keeps whole: rkt wrote the tree in place and synced nothing.
 */
export async function extractTo(ctx: CommandContext, args: readonly string[], withDependencies: boolean): Promise<void> {
  const [ref = '', dir = ''] = args;
  const dest = outputPath(ctx, dir, 'output directory');
  if (ctx.flags.bool('overwrite')) refuseOverwriteOf(ctx, dir, dest);
  const store = await openImageStore(ctx);
  // Resolve first: a bad reference must not touch the directory.
  const img = await store.resolve(ref);
  await clearDebris(dest);
  const existing = statOrUndefined(dest);
  if (existing !== undefined && !existing.isDirectory()) throw new CliError('CLI_BAD_ARGS', `${dir}: exists and is not a directory`);
  if (existing !== undefined && readdirSync(dest).length > 0 && !ctx.flags.bool('overwrite')) {
    throw new CliError('CLI_BAD_ARGS', `${dir}: output directory exists and is not empty (try --overwrite)`);
  }
  const staging = join(dirname(dest), `.${basename(dest)}.${uniqueName('new')}`);
  try {
    await store.extractImage(img.id, staging, { rootfsOnly: ctx.flags.bool('rootfs-only'), withDependencies });
  } catch (err) {
    // The store empties what it made; a staging path it could not make (a file in the way) is no error here.
    await rm(staging, { recursive: true, force: true }).catch(() => {});
    throw namingArgument(err, staging, dir);
  }
  try {
    await syncFilesystem(staging);
  } catch (err) {
    await rm(staging, { recursive: true, force: true }).catch(() => {});
    throw err;
  }
  const aside = join(dirname(dest), `.${basename(dest)}.${uniqueName('old')}`);
  if (existing !== undefined) renameSync(dest, aside);
  renameSync(staging, dest);
  await fsyncDir(dirname(dest));
  if (existing !== undefined) await rm(aside, { recursive: true, force: true });
}

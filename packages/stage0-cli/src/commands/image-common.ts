import { realpathSync } from 'node:fs';
import { relative, resolve as resolvePath, sep } from 'node:path';
import { openStore, type ImageRecord, type Store } from '@rkt/image-store';
import type { CommandContext } from '../command.js';
import { CliError, isCodedError } from '../errors.js';

/** The image store of the data directory (`--dir`): `<dir>/cas`. */
export function openImageStore(ctx: CommandContext): Promise<Store> {
  return openStore({ dir: ctx.dataDir() });
}

/** A path argument, relative to the working directory as the user typed it. */
export function argPath(ctx: CommandContext, p: string): string {
  return resolvePath(ctx.cwd, p);
}

/**
 * An output path argument. An empty one is refused: resolved, it would be the working directory, which
 * `--overwrite` then replaced (rkt-ts refuses `--dir=""` and `rkt fetch ''` the same way).
 */
export function outputPath(ctx: CommandContext, p: string, what: 'output directory' | 'output ACI file'): string {
  if (p === '') {
    const hint = what === 'output directory' ? ' (use "." for the current directory)' : '';
    throw new CliError('CLI_BAD_ARGS', `the ${what} argument is empty${hint}`);
  }
  return argPath(ctx, p);
}

/** The path with symlinks resolved, so that `..` and links compare as the kernel sees them; as given if it does not exist. */
function realOr(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

/** Whether `inner` is `outer` or below it. */
function within(outer: string, inner: string): boolean {
  const rel = relative(outer, inner);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !rel.startsWith(sep));
}

/**
 * `--overwrite` replaces the whole directory `dest`: refused for `/`, for the working directory or any of its
 * parents (rkt's RemoveAll(".") failed with EINVAL, so rkt refused these too), and for the data directory,
 * any of its parents or anything in it, whose removal would take (part of) the store with it.
 */
export function refuseOverwriteOf(ctx: CommandContext, arg: string, dest: string): void {
  const real = realOr(dest);
  const data = realOr(ctx.dataDir());
  const why =
    real === '/' ? 'it is the root directory'
    : within(real, realOr(ctx.cwd)) ? 'it is the current directory or one of its parents'
    : within(real, data) ? 'it holds the rkt data directory'
    : within(data, real) ? 'it is inside the rkt data directory'
    : undefined;
  if (why !== undefined) throw new CliError('CLI_BAD_ARGS', `${arg}: refusing to overwrite: ${why}`);
}

/**
 * The store names an output path as the CLI gave it, absolute; the user typed `arg`. A store error about
 * that path (`<dest>: reason`) is reported with the argument instead.
 */
export function namingArgument(err: unknown, dest: string, arg: string): unknown {
  if (!isCodedError(err) || err.code !== 'STORE_TARGET' || !err.message.startsWith(`${dest}: `)) return err;
  return new CliError('CLI_BAD_ARGS', `${arg}: ${err.message.slice(dest.length + 2)}`, { cause: err });
}

/** rkt's name column: the name, with `:version` when the image has a version label. */
export function displayName(img: Pick<ImageRecord, 'name' | 'labels'>): string {
  const version = img.labels.find((l) => l.name === 'version');
  return version === undefined ? img.name : `${img.name}:${version.value}`;
}

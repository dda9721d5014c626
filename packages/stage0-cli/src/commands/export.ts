import { realpathSync, statSync } from 'node:fs';
import { basename, dirname, relative, resolve as resolvePath, sep } from 'node:path';
import { buildAciFromRootfs } from '@rkt/appc-spec';
import { openExitedAppRootfs } from '@rkt/controller';
import type { CommandContext } from '../command.js';
import { CliError } from '../errors.js';
import { exportedManifest } from './export-manifest.js';
import { interruptible } from './interruptible.js';

/**
 * `rkt export [--app=NAME] UUID OUT.aci`: an app of an exited pod as an ACI (gzip, as rkt's), its root as the
 * app left it and its image's manifest, flattened (see `exportedManifest`).
 */
export async function run(ctx: CommandContext, args: readonly string[]): Promise<number | undefined> {
  const [uuid = '', out = ''] = args;
  const overwrite = ctx.flags.bool('overwrite');
  const dest = outputFile(ctx, out, overwrite);
  const app = ctx.flags.string('app');
  // ^C, SIGTERM, SIGHUP: the temp file beside the output removed and the pod's view closed, then the signal's status.
  return interruptible(async (signal) => {
    const pod = await openExitedAppRootfs({ dataDir: ctx.dataDir(), uuid, ...(app !== '' ? { app } : {}) });
    try {
      // Written into the pod's own root (a --no-overlay copy), the file would be archived while it grows.
      if (within(realpathSync.native(pod.podDir), resolvePath(realpathSync.native(dirname(dest)), basename(dest)))) {
        throw new CliError('CLI_BAD_ARGS', `${out}: the output ACI file must not be inside the pod's directory ${pod.podDir}`);
      }
      ctx.log.debug(`exporting app ${pod.app} of pod ${pod.uuid}`);
      await buildAciFromRootfs(exportedManifest(pod.imageManifest, pod.app), pod.rootfs, dest, { compression: 'gzip', overwrite, signal });
    } catch (err) {
      // Another process made the file since it was checked: the build never replaces one without --overwrite.
      if ((err as { code?: unknown }).code === 'APPC_EXISTS') throw exists(out, err);
      throw err;
    } finally {
      await pod.close();
    }
  });
}

/** The output argument, checked before the pod is touched, as rkt checked it. */
function outputFile(ctx: CommandContext, out: string, overwrite: boolean): string {
  if (out === '') throw new CliError('CLI_BAD_ARGS', 'the output ACI file argument is empty');
  // rkt refused any other extension (schema.ACIExtension).
  if (!out.endsWith('.aci') || basename(out) === '.aci') throw new CliError('CLI_BAD_ARGS', `${out}: the output ACI file's extension must be .aci`);
  const dest = resolvePath(ctx.cwd, out);
  let isDir: boolean;
  try {
    isDir = statSync(dest).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !isDirectory(dirname(dest))) throw new CliError('CLI_BAD_ARGS', `${out}: directory ${dirname(out)} does not exist`, { cause: err });
    if (code === 'ENOENT') return dest;
    throw err;
  }
  if (isDir) throw new CliError('CLI_BAD_ARGS', `${out}: is a directory`);
  if (!overwrite) throw exists(out);
  return dest;
}

function exists(out: string, cause?: unknown): CliError {
  return new CliError('CLI_BAD_ARGS', `${out}: output ACI file exists (try --overwrite)`, cause === undefined ? {} : { cause });
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function within(outer: string, inner: string): boolean {
  const rel = relative(outer, inner);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !rel.startsWith(sep));
}

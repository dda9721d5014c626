import { statSync } from 'node:fs';
import type { CommandContext } from '../command.js';
import { CliError } from '../errors.js';
import { shortImageId } from '../output/listing.js';
import { argPath, openImageStore } from './image-common.js';

/**
 * `rkt fetch FILE.aci...`: imports local image files into the store and prints each image's ID.
 *
 * rkt required a signature (`FILE.aci.asc`, checked against trusted keys) unless `--insecure-options=image`
 * was given. Signature checks arrive with the fetcher; until then an unverified import is refused rather
 * than done with a warning, so nothing a user relied on rkt to check gets in unchecked. Every argument is
 * checked before anything is imported.
 */
export async function run(ctx: CommandContext, args: readonly string[]): Promise<void> {
  for (const arg of args) {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(arg) || arg.startsWith('docker:')) {
      throw new CliError('CLI_BAD_ARGS', `${arg}: only local image files can be fetched for now (remote images arrive with the fetcher)`);
    }
  }
  if (!ctx.globals.insecureOptions.skipImageCheck) {
    throw new CliError('CLI_BAD_ARGS',
      `${args[0] ?? ''}: signature verification is not available yet; fetch with --insecure-options=image to import without verifying the image`);
  }
  const paths = args.map((a) => {
    const p = argPath(ctx, a);
    let isFile: boolean;
    try {
      isFile = statSync(p).isFile();
    } catch (err) {
      throw new CliError('CLI_BAD_ARGS', `${a}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`, { cause: err });
    }
    if (!isFile) throw new CliError('CLI_BAD_ARGS', `${a}: not a file`);
    return { arg: a, path: p };
  });
  const store = await openImageStore(ctx);
  const full = ctx.flags.bool('full');
  for (const { arg, path } of paths) {
    // A file named on the command line is what the user asked for: rkt marked such images as latest.
    const res = await store.importAci(path, { source: arg, latest: true });
    ctx.log.debug(`${arg}: ${res.added ? 'imported' : 'already in the store'} as ${res.id} (${res.compression})`);
    ctx.stdout.write(`${shortImageId(res.id, full)}\n`);
  }
}

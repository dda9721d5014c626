import { statSync } from 'node:fs';
import type { CommandContext } from '../command.js';
import { CliError } from '../errors.js';
import { shortImageId } from '../output/listing.js';
import { fetchOptions, pullPolicyFlag } from './fetch-options.js';
import { openImageStore } from './image-common.js';

/**
 * `rkt fetch IMAGE_URL...`: fetches and renders each image (a file, `file://`, `https://`, `http://` with
 * `--insecure-options=http`, a name with labels through appc discovery, or an image ID in the store) with
 * `@rkt/fetcher`, and prints each image's ID.
 *
 * Signatures are the fetcher's job: a file's `FILE.aci.asc`, a URL's `.aci.asc` or the discovered one is
 * checked against the trusted keys, and without one the image is refused unless `--insecure-options=image`.
 * Every argument is parsed (and every file checked to exist) before anything is fetched, so a typo in the
 * last argument does not leave the first ones half done.
 */
export async function run(ctx: CommandContext, args: readonly string[]): Promise<void> {
  const pullPolicy = pullPolicyFlag(ctx);
  // Loaded here rather than at the top: openpgp and the HTTP stack are large, and only fetching needs them.
  const { fetchImage, parseImageString } = await import('@rkt/fetcher');
  for (const arg of args) {
    const parsed = parseImageString(arg, { cwd: ctx.cwd });
    if (parsed.kind !== 'path') continue;
    let isFile: boolean;
    try {
      isFile = statSync(parsed.path).isFile();
    } catch (err) {
      throw new CliError('CLI_BAD_ARGS', `${arg}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`, { cause: err });
    }
    if (!isFile) throw new CliError('CLI_BAD_ARGS', `${arg}: not a file`);
  }
  const store = await openImageStore(ctx);
  const full = ctx.flags.bool('full');
  for (const arg of args) {
    const r = await fetchImage(arg, fetchOptions(ctx, store, pullPolicy));
    ctx.log.debug(`${arg}: ${r.downloaded ? 'downloaded' : 'not downloaded'} as ${r.id}${r.signedBy === undefined ? '' : ` (signed by ${r.signedBy})`}`);
    ctx.stdout.write(`${shortImageId(r.id, full)}\n`);
  }
}

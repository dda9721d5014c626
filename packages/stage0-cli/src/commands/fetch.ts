import { statSync } from 'node:fs';
import type { PullPolicy } from '@rkt/fetcher';
import type { CommandContext } from '../command.js';
import { CliError } from '../errors.js';
import { shortImageId } from '../output/listing.js';
import { fetchOptions, pullPolicyFlag } from './fetch-options.js';
import { openImageStore } from './image-common.js';
import { mustBeSignatureFile, signatureFiles } from './signature-flag.js';

/**
 * `rkt fetch IMAGE_URL...`: fetches and renders each image (a file, `file://`, `https://`, `http://` with
 * `--insecure-options=http`, a name with labels through appc discovery, or an image ID in the store) with
 * `@rkt/fetcher`, and prints each image's ID.
 *
 * Signatures are the fetcher's job: a file's `FILE.aci.asc`, a URL's `.aci.asc` or the discovered one (or the
 * `--signature=FILE` given after the image, instead) is checked against the trusted keys, and without one the
 * image is refused unless `--insecure-options=image`.
 * Every argument is parsed (and every file checked to exist) before anything is fetched, so a typo in the
 * last argument does not leave the first ones half done.
 */
export async function run(ctx: CommandContext, args: readonly string[]): Promise<void> {
  const pullPolicy = deprecatedStoreFlags(ctx) ?? pullPolicyFlag(ctx);
  const signatures = signatureFiles(ctx, args, 'fetch');
  // Loaded here rather than at the top: openpgp and the HTTP stack are large, and only fetching needs them.
  const { fetchImage, parseImageString, signatureFileApplies } = await import('@rkt/fetcher');
  for (const [i, arg] of args.entries()) {
    const parsed = parseImageString(arg, { cwd: ctx.cwd });
    if (parsed.kind === 'path') mustBeFile(parsed.path, arg);
    const signature = signatures[i];
    if (signature === undefined) continue;
    signatureFileApplies(parsed, signature.path);
    // rkt did not open it when the check was skipped (as rkt run and prepare here): only a signature to check must exist.
    if (!ctx.globals.insecureOptions.skipImageCheck) mustBeSignatureFile(signature);
  }
  const store = await openImageStore(ctx);
  const full = ctx.flags.bool('full');
  for (const [i, arg] of args.entries()) {
    const signatureFile = signatures[i]?.path;
    const r = await fetchImage(arg, { ...fetchOptions(ctx, store, pullPolicy), ...(signatureFile !== undefined ? { signatureFile } : {}) });
    ctx.log.debug(`${arg}: ${r.downloaded ? 'downloaded' : 'not downloaded'} as ${r.id}${r.signedBy === undefined ? '' : ` (signed by ${r.signedBy})`}`);
    ctx.stdout.write(`${shortImageId(r.id, full)}\n`);
  }
}

function mustBeFile(path: string, shown: string): void {
  let isFile: boolean;
  try {
    isFile = statSync(path).isFile();
  } catch (err) {
    throw new CliError('CLI_BAD_ARGS', `${shown}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`, { cause: err });
  }
  if (!isFile) throw new CliError('CLI_BAD_ARGS', `${shown}: not a file`);
}

/**
 * rkt 1.30's deprecated `--store-only` (now `--pull-policy=never`) and `--no-store` (`--pull-policy=update`):
 * still obeyed, with cobra's deprecation line on stderr. Hidden from the help, as cobra hid them.
 */
function deprecatedStoreFlags(ctx: CommandContext): PullPolicy | undefined {
  const storeOnly = ctx.flags.bool('store-only');
  const noStore = ctx.flags.bool('no-store');
  if (storeOnly && noStore) throw new CliError('CLI_BAD_ARGS', 'both --store-only and --no-store specified');
  if (ctx.flags.changed('store-only')) ctx.stderr.write('Flag --store-only has been deprecated, please use --pull-policy=never\n');
  if (ctx.flags.changed('no-store')) ctx.stderr.write('Flag --no-store has been deprecated, please use --pull-policy=update\n');
  if (storeOnly) return 'never';
  if (noStore) return 'update';
  return undefined;
}

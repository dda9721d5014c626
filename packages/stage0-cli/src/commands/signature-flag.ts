import { statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { CommandContext } from '../command.js';
import { CliError } from '../errors.js';

/** A `--signature=FILE`: as given (for messages), and absolute. */
export interface SignatureFile {
  readonly given: string;
  readonly path: string;
}

/**
 * rkt's per-image `--signature=FILE` (`rkt fetch`, `run`, `prepare`): each applies to the image given before it,
 * whose signature is then read from FILE. By image index. One before any image, or a second for one image, is
 * refused in rkt's words (`words`): `rkt fetch`'s, from its flag's Set (appAsc.Set), name the value and the image;
 * run and prepare's, from their parseApps, do not.
 */
export function signatureFiles(ctx: CommandContext, images: readonly string[], words: 'fetch' | 'apps'): Array<SignatureFile | undefined> {
  const out: Array<SignatureFile | undefined> = images.map(() => undefined);
  const refuse = (given: string, why: string, image?: string) =>
    new CliError('CLI_BAD_ARGS', words === 'apps' ? why : `--signature=${given}: ${why}${image === undefined ? '' : ` (${image})`}`);
  const positions = ctx.flags.positions('signature');
  ctx.flags.strings('signature').forEach((given, i) => {
    const image = (positions[i] ?? 0) - 1;
    if (image < 0) throw refuse(given, '--signature must follow an image');
    if (out[image] !== undefined) throw refuse(given, '--signature specified multiple times for the same image', images[image]);
    out[image] = { given, path: isAbsolute(given) ? given : resolve(ctx.cwd, given) };
  });
  return out;
}

/**
 * Refuses a `--signature=FILE` that is missing or not a file, in one line naming the flag as given and the path it
 * was taken for: `rkt fetch`, `run` and `prepare` alike, each before anything is fetched for that image (not at all
 * under `--insecure-options=image`, where rkt never opened it).
 */
export function mustBeSignatureFile(signature: SignatureFile): void {
  const shown = `--signature=${signature.given}`;
  const where = signature.path === signature.given ? '' : ` (${signature.path})`;
  let isFile: boolean;
  try {
    isFile = statSync(signature.path).isFile();
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new CliError('CLI_BAD_ARGS', `${shown}: ${why}${where}`, { cause: err });
  }
  if (!isFile) throw new CliError('CLI_BAD_ARGS', `${shown}: not a file${where}`);
}

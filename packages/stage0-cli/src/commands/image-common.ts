import { resolve as resolvePath } from 'node:path';
import { openStore, type ImageRecord, type Store } from '@rkt/image-store';
import type { CommandContext } from '../command.js';
import { CliError } from '../errors.js';

/** The image store of the data directory (`--dir`): `<dir>/cas`. */
export function openImageStore(ctx: CommandContext): Promise<Store> {
  return openStore({ dir: ctx.dataDir() });
}

/** A path argument, relative to the working directory as the user typed it. */
export function argPath(ctx: CommandContext, p: string): string {
  return resolvePath(ctx.cwd, p);
}

/** rkt's name column: the name, with `:version` when the image has a version label. */
export function displayName(img: Pick<ImageRecord, 'name' | 'labels'>): string {
  const version = img.labels.find((l) => l.name === 'version');
  return version === undefined ? img.name : `${img.name}:${version.value}`;
}

/**
 * Go's `time.ParseDuration`, which rkt's `--grace-period` used: "24h", "1h30m", "0", "500ms", "1.5h".
 * Negative durations are refused: a grace period cannot be negative.
 */
export function parseGoDuration(flagName: string, raw: string): number {
  if (raw === '0') return 0;
  const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 };
  const re = /([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  for (let m = re.exec(raw); m !== null; m = re.exec(raw)) {
    total += Number(m[1]) * (unit[m[2] ?? ''] ?? 0);
    pos = re.lastIndex;
  }
  if (raw === '' || pos !== raw.length) {
    throw new CliError('CLI_BAD_FLAG_VALUE', `invalid argument ${JSON.stringify(raw)} for --${flagName}: not a duration (examples: 24h, 1h30m, 0s)`);
  }
  return total;
}

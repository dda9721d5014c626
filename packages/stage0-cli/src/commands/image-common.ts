import { resolve as resolvePath } from 'node:path';
import { openStore, type ImageRecord, type Store } from '@rkt/image-store';
import type { CommandContext } from '../command.js';

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


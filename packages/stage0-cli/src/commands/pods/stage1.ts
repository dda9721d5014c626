import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve as resolvePath } from 'node:path';
import { StoreError, type Store } from '@rkt/image-store';
import type { CommandContext } from '../../command.js';
import { CliError } from '../../errors.js';
import { claimStored, importFile, statImageFile, type ImageClaim } from './images.js';
import { builtinStage1Location, defaultStage1Location, stage1ConfigOf, stage1ImagesDirectory } from './stage1-config.js';

function fileFromUrl(url: string): string {
  if (!url.startsWith('file://')) {
    throw new CliError('CLI_BAD_FLAG_VALUE', `--stage1-url ${url}: only file:// URLs are supported until the fetcher lands`);
  }
  return decodeURIComponent(new URL(url).pathname);
}

/** rkt's stage1 selection: at most one of the --stage1-* flags, else the configured default. Returns the image ID. */
export async function selectStage1(ctx: CommandContext, store: Store, claim: ImageClaim): Promise<string> {
  const given = ['stage1-path', 'stage1-name', 'stage1-hash', 'stage1-url', 'stage1-from-dir'].filter((f) => ctx.flags.changed(f));
  if (given.length > 1) {
    throw new CliError('CLI_BAD_ARGS', `flags ${given.map((f) => `--${f}`).join(' and ')} are mutually exclusive`);
  }
  const config = stage1ConfigOf(ctx.globals);
  const trustedOrChecked = (what: string) => {
    if (!ctx.globals.insecureOptions.skipImageCheck) {
      throw new CliError('CLI_BAD_ARGS', `${what}: signature verification is not implemented yet; pass --insecure-options=image to use it unverified`);
    }
  };
  switch (given[0]) {
    case 'stage1-path': {
      const path = resolvePath(ctx.cwd, ctx.flags.string('stage1-path'));
      // A missing file or a directory is said as such, not as a signature that cannot be checked.
      const st = await statImageFile(path, 'stage1 image');
      trustedOrChecked(`stage1 image ${path}`);
      return importFile(store, path, claim, st);
    }
    case 'stage1-url': {
      const url = ctx.flags.string('stage1-url');
      trustedOrChecked(`stage1 image ${url}`);
      return importFile(store, fileFromUrl(url), claim);
    }
    case 'stage1-name': {
      const ref = ctx.flags.string('stage1-name');
      try {
        const held = await claimStored(claim, (await store.resolve(ref)).id);
        if (held !== undefined) return held;
        // Removed since it was found: imported again below, as if it had never been stored.
        throw new StoreError('STORE_NOT_FOUND', `no image named ${ref} in the store`, { subject: ref });
      } catch (err) {
        // A built-in stage1 not yet in the store is imported from where the build put it, as rkt found
        // stage1 images by name in its images directory; a version in the reference must still match.
        const location = builtinStage1Location(ref.replace(/:.*$/, ''));
        if (location === undefined || !existsSync(location)) throw err;
        const id = await importFile(store, location, claim);
        // The reference may name a version the built-in image does not have: then it is still not found.
        const named = (await store.resolve(ref)).id;
        const held = named === id ? id : await claimStored(claim, named);
        if (held === undefined) throw new StoreError('STORE_NOT_FOUND', `no image named ${ref} in the store`, { subject: ref });
        return held;
      }
    }
    case 'stage1-hash': {
      const { id } = await store.resolve(ctx.flags.string('stage1-hash'));
      const held = await claimStored(claim, id);
      if (held === undefined) throw new StoreError('STORE_NOT_FOUND', `no image with ID ${id} in the store`, { subject: id });
      return held;
    }
    case 'stage1-from-dir': {
      const name = ctx.flags.string('stage1-from-dir');
      const dir = stage1ImagesDirectory(ctx.globals, config);
      // Images in the stage1 images directory are trusted as rkt trusted them: root put them there.
      return importFile(store, isAbsolute(name) ? name : join(dir, name), claim);
    }
  }
  if (config.name !== undefined) {
    const ref = config.version !== undefined ? `${config.name}:${config.version}` : config.name;
    const found = await store.resolve(ref).catch(() => undefined);
    const held = found === undefined ? undefined : await claimStored(claim, found.id);
    if (held !== undefined) return held;
  }
  const location = defaultStage1Location(config);
  if (location === undefined || !existsSync(location.replace(/^file:\/\//, ''))) {
    throw new CliError('CLI_BAD_ARGS', `no default stage1 image at ${location ?? '(unknown)'}: run "npm run build", or give --stage1-path`);
  }
  // The default location is trusted, as rkt trusted its configured default stage1.
  return importFile(store, location.replace(/^file:\/\//, ''), claim);
}

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CliError } from '../../errors.js';
import { configDirsOf, configDocuments, type ConfigDirOptions } from './config-docs.js';
import { pathsConfigOf } from './paths-config.js';

/**
 * rkt's stage1 configuration file (`stage1.d/*.json` in the system, local and user config directories).
 * Checked by hand rather than with zod: every `rkt run` reads it, and six string fields do not justify
 * zod's load time on that path.
 */
export interface Stage1Config {
  readonly rktKind: 'stage1';
  readonly rktVersion: 'v1';
  readonly name?: string;
  readonly version?: string;
  readonly location?: string;
  readonly 'images-directory'?: string;
}

const OPTIONAL_STRINGS = ['name', 'version', 'location', 'images-directory'] as const;

/** The first thing wrong with a stage1 configuration document (rktKind already "stage1"), as `field: rule`. */
function problemOf(raw: Record<string, unknown>): string | undefined {
  if (raw.rktVersion !== 'v1') return `rktVersion: must be "v1"`;
  for (const key of OPTIONAL_STRINGS) {
    if (raw[key] !== undefined && typeof raw[key] !== 'string') return `${key}: must be a string, got ${JSON.stringify(raw[key])}`;
  }
  return undefined;
}

/** The configuration files merged in order (later directories and file names win, field by field). */
export function readStage1Config(dirs: readonly string[]): Stage1Config {
  let merged: Stage1Config = { rktKind: 'stage1', rktVersion: 'v1' };
  for (const { path, doc } of configDocuments(dirs, 'stage1', 'stage1')) {
    const problem = problemOf(doc);
    if (problem !== undefined) throw new CliError('CLI_BAD_ARGS', `stage1 configuration ${path}: ${problem}`);
    const picked: Record<string, string> = {};
    for (const key of OPTIONAL_STRINGS) if (typeof doc[key] === 'string') picked[key] = doc[key];
    merged = { ...merged, ...picked };
  }
  return merged;
}

/** The stage1 configuration `rkt run` and `prepare` apply: the system, the local, then the user configuration directory. */
export function stage1ConfigOf(globals: ConfigDirOptions): Stage1Config {
  return readStage1Config(configDirsOf(globals));
}

/**
 * Where `--stage1-from-dir` looks: paths.d's `stage1-images`, else `images-directory` of the stage1
 * configuration, else `<system-config>/stage1-images`. paths.d first because it was rkt's only place for it
 * (rkt's stage1 kind had no such field); `images-directory` is rkt-ts's older one, kept for the files that name it.
 * Reads paths.d: called only for `--stage1-from-dir` and by `rkt config`.
 */
export function stage1ImagesDirectory(globals: ConfigDirOptions, config: Stage1Config): string {
  return pathsConfigOf(globals)['stage1-images'] ?? config['images-directory'] ?? join(globals.systemConfigDir, 'stage1-images');
}

/** The stage1 images `npm run build` makes in this checkout, by the name in their manifests (stage1-builder). */
const BUILTIN_STAGE1S: Readonly<Record<string, string>> = {
  'coreos.com/rkt/stage1-systemd': join('stage1-systemd', 'dist', 'stage1-systemd.aci'),
  'coreos.com/rkt/stage1-fly': join('stage1-fly', 'dist', 'stage1-fly.aci'),
};
const DEFAULT_STAGE1_NAME = 'coreos.com/rkt/stage1-systemd';

/** The packages directory of this checkout (where the built-in stage1 images are built), found from this file. */
function packagesDir(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === '@rkt/stage0-cli') return dirname(dir);
    dir = dirname(dir);
  }
  return undefined;
}

/**
 * Where a built-in stage1 image is, by its manifest name (the default: the systemd one), as rkt's
 * build-time `--with-stage1-default-location` and its stage1 images directory.
 */
export function builtinStage1Location(name: string = DEFAULT_STAGE1_NAME): string | undefined {
  const rel = BUILTIN_STAGE1S[name];
  const dir = rel === undefined ? undefined : packagesDir();
  return dir === undefined || rel === undefined ? undefined : join(dir, rel);
}

/**
 * The image a run without a `--stage1-*` flag takes when the configured name (and version) is not in the store,
 * or none is configured: the configured location, else the built-in default.
 */
export function defaultStage1Location(config: Stage1Config): string | undefined {
  return config.location ?? builtinStage1Location();
}

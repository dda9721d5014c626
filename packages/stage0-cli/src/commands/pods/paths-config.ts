import { isAbsolute, resolve } from 'node:path';
import { CliError } from '../../errors.js';
import { DEFAULT_DATA_DIR, type GlobalOptions } from '../../globals.js';
import { configDirsOf, configDocuments, type ConfigDirOptions } from './config-docs.js';

/**
 * rkt's paths configuration (`paths.d/*.json`, kind "paths"): where the data directory and the stage1 images
 * directory are. Each field absolute when set. Checked by hand, as the other kinds: it is read on the way to
 * the data directory of every command that has no `--dir`.
 */
export interface PathsConfig {
  readonly data?: string;
  readonly 'stage1-images'?: string;
}

const FIELDS = ['data', 'stage1-images'] as const;

/**
 * The paths configuration of `dirs` (system, local, user): a later directory wins field by field. Within one
 * directory two files may not set the same field, as rkt had it ("data directory is already specified"): which
 * file named the data directory would otherwise depend on file names, and the data directory is where every pod
 * and image goes. An empty string leaves a field unset, as it did for rkt; unknown fields are read past.
 */
export function readPathsConfig(dirs: readonly string[]): PathsConfig {
  const merged: { -readonly [K in keyof PathsConfig]: PathsConfig[K] } = {};
  for (const dir of dirs) {
    const setBy = new Map<string, string>();
    for (const { path, doc } of configDocuments([dir], 'paths', 'paths')) {
      const fail = (problem: string) => new CliError('CLI_BAD_ARGS', `paths configuration ${path}: ${problem}`);
      if (doc.rktVersion !== 'v1') throw fail(`rktVersion: must be "v1"`);
      for (const key of FIELDS) {
        const value = doc[key];
        if (value === undefined || value === '') continue;
        if (typeof value !== 'string') throw fail(`${key}: must be a string, got ${JSON.stringify(value)}`);
        if (!isAbsolute(value)) throw fail(`${key}: must be an absolute path, got ${JSON.stringify(value)}`);
        const earlier = setBy.get(key);
        if (earlier !== undefined) throw fail(`${key}: already set by ${earlier} (one file of a directory may set it)`);
        setBy.set(key, path);
        merged[key] = resolve(value);
      }
    }
  }
  return merged;
}

/** The paths configuration the commands apply: the system, the local, then the user configuration directory. */
export function pathsConfigOf(globals: ConfigDirOptions): PathsConfig {
  return readPathsConfig(configDirsOf(globals));
}

/**
 * The data directory, as rkt's getDataDir: `--dir` when given (paths.d is then not read at all), else paths.d's
 * `data`, else /var/lib/rkt. Absolute; symlinks are resolved by `CommandContext.dataDir()`.
 */
export function dataDirOf(globals: Pick<GlobalOptions, 'dir'> & ConfigDirOptions): { dir: string; from: 'flag' | 'paths.d' | 'default' } {
  if (globals.dir !== undefined) return { dir: globals.dir, from: 'flag' };
  const configured = pathsConfigOf(globals).data;
  return configured !== undefined ? { dir: configured, from: 'paths.d' } : { dir: DEFAULT_DATA_DIR, from: 'default' };
}

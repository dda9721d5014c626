import { CliError } from '../../errors.js';
import { configDocuments } from './config-docs.js';

/**
 * rkt's stage1 configuration file (`stage1.d/*.json` in the system, then local, config directory).
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

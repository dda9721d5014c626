import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CliError } from '../../errors.js';
import type { GlobalOptions } from '../../globals.js';

/** The directories a command reads its configuration from. */
export type ConfigDirOptions = Pick<GlobalOptions, 'systemConfigDir' | 'localConfigDir' | 'userConfigDir'>;

/**
 * The configuration directories in the order they apply (a later one wins), as rkt's getConfig walked them for
 * every kind it had (auth, paths, stage1): the system, the local, then the user directory when `--user-config`
 * names one.
 */
export function configDirsOf(g: ConfigDirOptions): string[] {
  return g.userConfigDir !== undefined ? [g.systemConfigDir, g.localConfigDir, g.userConfigDir] : [g.systemConfigDir, g.localConfigDir];
}

/**
 * The documents of one rkt configuration kind (`<dirs>/<sub>.d/*.json` whose `rktKind` is `kind`), in the
 * order they apply: directories as given (system, local, user), file names sorted. Checked by hand by their
 * readers rather than with zod: every pod command reads them, and a few fields do not justify zod's load time.
 */
export function configDocuments(dirs: readonly string[], sub: string, kind: string): { path: string; doc: Record<string, unknown> }[] {
  const out: { path: string; doc: Record<string, unknown> }[] = [];
  for (const dir of dirs) {
    const d = join(dir, `${sub}.d`);
    // Most hosts have neither directory: checked first, so that a plain `rkt run` throws no error at all (the
    // first one a process throws costs it Node's error path, compiled then).
    if (!existsSync(d)) continue;
    let names: string[];
    try {
      names = readdirSync(d).filter((n) => n.endsWith('.json')).sort();
    } catch {
      continue;
    }
    for (const n of names) {
      const path = join(d, n);
      let raw: unknown;
      try {
        raw = JSON.parse(readFileSync(path, 'utf8'));
      } catch (err) {
        throw new CliError('CLI_BAD_ARGS', `${kind} configuration ${path}: ${(err as Error).message}`, { cause: err });
      }
      if ((raw as { rktKind?: unknown } | null)?.rktKind === kind) out.push({ path, doc: raw as Record<string, unknown> });
    }
  }
  return out;
}

import { readdir, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pidRuns, processStartTime } from '../process-start.js';

/** `.<name>.<pid>.<starttime>.<random>.tmp`. */
const TEMP_NAME = /^\..+\.(\d+)\.(\d+)\.[0-9a-f]{12}\.tmp$/;
/** `.<name>.<pid>.<random>.tmp`, as rkt-ts named them before session 20: the writer's pid alone. */
const OLD_TEMP_NAME = /^\..+\.(\d+)\.[0-9a-f]{12}\.tmp$/;
/** `.<name>.rkt-export-<pid>`, as `rkt image export` and `rkt export` named theirs before session 20: the pid alone. */
const OLD_EXPORT_TEMP_NAME = /^\..+\.rkt-export-(\d+)$/;

let self: string | undefined;

/**
 * A temp file beside `path`, for a write that is renamed (or linked) into place once whole:
 * `.<name>.<pid>.<starttime>.<random>.tmp`. Named after its writer, so that a later write to the directory
 * (`removeDeadWriterTemps`) can tell the temp of a writer killed part way (kill -9, a crash, a power cut),
 * which nothing else would ever remove, from the one a live writer is still filling.
 */
export function writerTempPath(path: string): string {
  self ??= `${process.pid}.${processStartTime(process.pid) ?? '0'}`;
  return join(dirname(path), `.${basename(path)}.${self}.${randomHex12()}.tmp`);
}

/**
 * Twelve hex digits that tell this process's temps apart. Not node:crypto's: the writer and its start time are
 * in the name already, the temp is created exclusively (a clash fails, never shares a file), and loading
 * node:crypto would cost a command that hashes nothing (`rkt run --uuid-file-save`) about 9 ms.
 */
function randomHex12(): string {
  return Math.floor(Math.random() * 2 ** 48).toString(16).padStart(12, '0');
}

/** What else `removeDeadWriterTemps` takes for a temp file. */
export interface DeadWriterTempOptions {
  /**
   * Another pid-only name earlier writers of this directory gave their temps, the writer's pid its first group
   * (the keystore's `<fingerprint>.tmp-<pid>-<random>`). Only for a directory whose every name is its owner's:
   * the names above are dotfiles ending so, which a user's file hardly is; such a pattern may match one.
   */
  readonly pidOnly?: RegExp;
}

/**
 * Removes from `dir` the temp files `writerTempPath` names (and the pid-only names of earlier builds, both
 * `.<name>.<pid>.<random>.tmp` and the exports' `.<name>.rkt-export-<pid>`, and those `options.pidOnly`
 * matches) whose writers are gone; a live writer's are left alone. Best effort: a directory that cannot be
 * read, or a file another writer removed first, is no failure. Returns the names it removed.
 */
export async function removeDeadWriterTemps(dir: string, options: DeadWriterTempOptions = {}): Promise<string[]> {
  const removed: string[] = [];
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const extra = options.pidOnly?.exec(name);
    if (extra ? pidRuns(Number(extra[1])) : writerAlive(name)) continue;
    try {
      await unlink(join(dir, name));
      removed.push(name);
    } catch {
      // Removed by another writer meanwhile, or not ours to remove.
    }
  }
  return removed;
}

/** Whether the writer a temp file's name names still runs; true for a name that is not such a temp file. */
function writerAlive(name: string): boolean {
  if (!name.startsWith('.')) return true;
  const m = name.endsWith('.tmp') ? TEMP_NAME.exec(name) : null;
  if (m !== null && m[2] !== '0') return processStartTime(Number(m[1])) === m[2];
  // A writer that could not read its own start time is known by its pid only, as in the older names.
  const pidOnly = m ?? (name.endsWith('.tmp') ? OLD_TEMP_NAME : OLD_EXPORT_TEMP_NAME).exec(name);
  return pidOnly === null || pidRuns(Number(pidOnly[1]));
}


import { loadSysAddon } from './sys-addon.js';

/**
 * A whole file mapped read-only and populated in one system call (the addon's `mapFile`; native/sys.c says
 * why: on a VM with shadowed page tables a page fault costs ~12 us, and readFileSync's copy and the string
 * made from it take two per page): as a string when `ascii` (V8 reads the characters from the mapping, no
 * copy on its heap; undefined for a file not all ASCII) or as a Buffer that must not be written to.
 * Undefined too where the addon does not load (not built, a bundle of this code without it), for an empty
 * file, or where the file cannot be mapped: the caller reads it its own way. Errors opening the file
 * (ENOENT...) are thrown with their errno's name as `code`, as Node's fs.
 *
 * Only for files that are replaced, never rewritten in place (a truncation under the mapping kills the
 * process with SIGBUS). Worth it for files of a hundred kilobytes and more: loading the addon costs ~0.3
 * ms, what the faults of a 30 KB file cost on such a VM.
 */
export function mapFile(file: string, ascii: true): string | undefined;
export function mapFile(file: string, ascii: false): Buffer | undefined;
export function mapFile(file: string, ascii: boolean): string | Buffer | undefined {
  let addon;
  try {
    addon = loadSysAddon();
  } catch {
    return undefined;
  }
  return ascii ? addon.mapFile(file, true) : addon.mapFile(file, false);
}

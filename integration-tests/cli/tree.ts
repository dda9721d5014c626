// What the bad-input tests compare a data directory by, before and after a refused command.
import { existsSync, lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Every entry under `dir`: type, size, mtime and link target, sorted. The image index's LevelDB files are left
 * out by default: opening it rewrites its log and manifest (not what it holds, which the listings compare).
 */
export function tree(dir: string, skip: readonly string[] = [join(dir, 'cas', 'index')]): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (skip.includes(p)) continue;
      const st = lstatSync(p);
      if (st.isDirectory()) {
        out.push(`${p}/`);
        walk(p);
      } else {
        out.push(`${p} ${st.isSymbolicLink() ? `-> ${readlinkSync(p)}` : `${st.size} ${st.mtimeMs}`}`);
      }
    }
  };
  if (existsSync(dir)) walk(dir);
  return out.sort();
}

// Which files of a data directory name a given absolute path: the data directory's own (a new one), or the one
// an older rkt-ts made a fixture in. rkt-ts reads back the paths it records (pod-info.json's `lower`, the
// stage1/rootfs links, the references' podDirs) and finds them again after a move only where it knows to
// look, so a format that starts recording the path somewhere new must fail a test by name.
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

/** Every file and link under `dir` whose content or target holds `path`, relative to `dir` and sorted. */
export function filesNaming(dir: string, path: string): string[] {
  const found: string[] = [];
  const needle = Buffer.from(path);
  const walk = (rel: string): void => {
    for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const r = rel === '' ? e.name : `${rel}/${e.name}`;
      const p = join(dir, r);
      if (e.isDirectory()) walk(r);
      else if (e.isSymbolicLink()) {
        if (readlinkSync(p).includes(path)) found.push(r);
      } else if (e.isFile() && lstatSync(p).size <= 64 << 20 && readFileSync(p).includes(needle)) found.push(r);
    }
  };
  walk('');
  return found.sort();
}

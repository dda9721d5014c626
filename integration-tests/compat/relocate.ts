// An extracted fixture's data directory, moved from the path it was made in to the one a test run extracted
// it to. rkt-ts records the data directory's absolute path in three places (pod-info.json's `lower`, the
// pods' stage1/rootfs links, the pod references' `podDirs` in cas/refs), and reads them back: a reference
// whose directories are all gone no longer keeps its images, a pod's overlay mounts its `lower`, a stage1
// runs from its link. Extracting every fixture at its own fresh path therefore needs those rewritten; only
// those, and nothing else may name the old path, so that a format that starts recording it somewhere new
// fails here by name instead of leaving a pod that points at a directory that is not there.
import { lstatSync, lutimesSync, readdirSync, readFileSync, readlinkSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The files (relative to the data directory) in which rkt-ts writes the data directory's path, as JSON. */
export const PATH_FILES: readonly RegExp[] = [/^cas\/refs\/[^/]+\.json$/, /^pods\/[^/]+\/[^/]+\/pod-info\.json$/];

export interface Relocated {
  /** The files whose paths were rewritten, relative and sorted. */
  readonly files: string[];
  /** The symbolic links pointed at the new place, relative and sorted. */
  readonly links: string[];
}

/**
 * Rewrites `from` (the absolute path the data directory was made at, a fixture's `dataDir`) to `dir` (where
 * it is now) in the files and links that hold it, keeping their times (and their directories'), as they were
 * written. Throws, naming the file, when any other file or link mentions `from`.
 */
export function relocateDataDir(dir: string, from: string): Relocated {
  const files: string[] = [];
  const links: string[] = [];
  const old = Buffer.from(from);
  const walk = (rel: string): void => {
    for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const r = rel === '' ? e.name : `${rel}/${e.name}`;
      const p = join(dir, r);
      if (e.isDirectory()) {
        walk(r);
      } else if (e.isSymbolicLink()) {
        const target = readlinkSync(p);
        if (!target.includes(from)) continue;
        if (!target.startsWith(`${from}/`)) throw new Error(`relocate: link ${r} mentions ${from} other than as its start: ${target}`);
        const st = lstatSync(p);
        const parent = lstatSync(dirname(p));
        unlinkSync(p);
        symlinkSync(dir + target.slice(from.length), p);
        lutimesSync(p, st.atime, st.mtime);
        utimesSync(dirname(p), parent.atime, parent.mtime);
        links.push(r);
      } else if (e.isFile()) {
        const content = readFileSync(p);
        if (!content.includes(old)) continue;
        if (!PATH_FILES.some((re) => re.test(r))) throw new Error(`relocate: ${r} holds the data directory's path ${from}, and is not a file relocate.ts rewrites`);
        const text = content.toString('utf8');
        // The path as a JSON string or the start of one: `"<from>"` or `"<from>/...`.
        const rewritten = text.replace(new RegExp(`"${escapeRegExp(from)}(?=[/"])`, 'g'), `"${dir}`);
        if (rewritten.includes(from)) throw new Error(`relocate: ${r} mentions ${from} other than as the start of a JSON string`);
        const st = lstatSync(p);
        writeFileSync(p, rewritten);
        utimesSync(p, st.atime, st.mtime);
        files.push(r);
      }
    }
  };
  walk('');
  return { files: files.sort(), links: links.sort() };
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// A data directory whose store already holds a stage1 image, imported and rendered by `rkt fetch --full`
// once per test process: the systemd stage1 (40 MB) took 4 to 8 s to import into each test's empty store on
// a loaded 2-core machine, and a copy takes under 0.1 s. The copy hard-links the image blobs and the tree
// files, which rkt never writes in place (a pod boots an overlay of the tree; removals unlink), and copies the
// rest (the LevelDB index and the snapshot, which it does write). Should a test write to a linked file all
// the same, the template would no longer be what `rkt fetch` made: `check` fails that test by name, and the
// template is made again for the next.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';

/** The stat fields an in-place write, chmod or chown changes (ctime would change with every new link). */
const fingerprint = (path: string): string => {
  const st = lstatSync(path);
  return `${st.mode} ${st.uid} ${st.gid} ${st.size} ${st.mtimeMs}`;
};

function walk(dir: string, visit: (path: string, isDir: boolean) => void, descend: (path: string) => boolean = () => true): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    visit(p, e.isDirectory());
    if (e.isDirectory() && descend(p)) walk(p, visit, descend);
  }
}

/** Files rkt never rewrites in place: the content-addressed blobs and manifests, the rendered trees. */
const linkable = (rel: string): boolean => /^cas\/(images|trees)\/[^/]+\/./.test(rel);

export class Stage1StoreTemplate {
  readonly #dataDir: string;
  readonly #prints = new Map<string, string>();

  /** Fetches `aci` (with `rktBin`) into `${root}/data`; `root` must not exist yet. */
  constructor(
    readonly root: string,
    rktBin: string,
    aci: string,
  ) {
    this.#dataDir = join(root, 'data');
    mkdirSync(root, { recursive: true });
    const r = spawnSync(rktBin, [`--dir=${this.#dataDir}`, '--insecure-options=image', 'fetch', '--full', aci], { encoding: 'utf8', timeout: 300_000 });
    if (r.status !== 0) throw new Error(`rkt fetch of the stage1 ${aci} for the tests' store template failed (${r.status}): ${r.stderr}`);
    walk(this.#dataDir, (p, isDir) => {
      const rel = relative(this.#dataDir, p);
      if (!isDir && linkable(rel)) this.#prints.set(rel, fingerprint(p));
    });
  }

  /** Makes `dataDir` (which must not exist) a store holding the stage1 image, as after its `rkt fetch`. */
  copyTo(dataDir: string): void {
    if (existsSync(dataDir)) throw new Error(`${dataDir} exists: only an empty data directory is seeded`);
    // cp keeps the directories' modes and owners, which a tree's hash covers.
    const r = spawnSync('cp', ['-a', '--link', this.#dataDir, dataDir], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`cp -a --link ${this.#dataDir} ${dataDir} failed (${r.status}): ${r.stderr}`);
    const linked = new Set(['images', 'trees'].map((d) => join(dataDir, 'cas', d)));
    walk(
      dataDir,
      (p, isDir) => {
        if (isDir || lstatSync(p).isSymbolicLink()) return;
        rmSync(p);
        copyFileSync(join(this.#dataDir, relative(dataDir, p)), p);
      },
      (p) => !linked.has(p),
    );
  }

  /** The linked files as `rkt fetch` made them, or an error naming the first one a test changed. */
  check(): Error | undefined {
    for (const [rel, print] of this.#prints) {
      const p = join(this.#dataDir, rel);
      let now: string | undefined;
      try {
        now = fingerprint(p);
      } catch {
        // Removed: a test unlinked it in the template itself.
      }
      if (now !== print) {
        return new Error(`the test changed ${rel}, a file it shares with the seeded stage1 store template ${this.root}: seed no store for it`);
      }
    }
    return undefined;
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

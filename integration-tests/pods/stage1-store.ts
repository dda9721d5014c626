// A data directory whose store already holds a stage1 image, imported and rendered by `rkt fetch --full`
// once per test run (the first test file to need it makes it; the later ones find it): the systemd stage1
// (40 MB) took 4 to 8 s to import into each test's empty store on a loaded 2-core machine, and a copy takes
// under 0.1 s. The copy hard-links the image blobs and the tree files, which rkt never writes in place (a pod
// boots an overlay of the tree; removals unlink), and copies the rest (the LevelDB index and the snapshot,
// which it does write). Should a test write to a linked file all the same, the template would no longer be
// what `rkt fetch` made: `check` fails that test by name, and the template is made again for the next.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

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

/** What `rkt fetch` made, written last: a template without it is unfinished. */
const PRINTS = 'linked-files.json';

export class Stage1StoreTemplate {
  readonly #dataDir: string;
  readonly #prints: Map<string, string>;

  private constructor(
    readonly root: string,
    prints: Map<string, string>,
  ) {
    this.#dataDir = join(root, 'data');
    this.#prints = prints;
  }

  /**
   * The template at `root`, made by fetching `aci` with `rktBin` unless another test process made it already
   * (made beside it and renamed into place, so no process sees one half made).
   */
  static open(root: string, rktBin: string, aci: string): Stage1StoreTemplate {
    const load = (): Stage1StoreTemplate => {
      const prints = JSON.parse(readFileSync(join(root, PRINTS), 'utf8')) as [string, string][];
      return new Stage1StoreTemplate(root, new Map(prints));
    };
    // Only a finished template is ever renamed to `root`.
    if (existsSync(root)) return load();
    const making = `${root}.${process.pid}.tmp`;
    rmSync(making, { recursive: true, force: true });
    mkdirSync(making, { recursive: true });
    const dataDir = join(making, 'data');
    const r = spawnSync(rktBin, [`--dir=${dataDir}`, '--insecure-options=image', 'fetch', '--full', aci], { encoding: 'utf8', timeout: 300_000 });
    if (r.status !== 0) {
      rmSync(making, { recursive: true, force: true });
      throw new Error(`rkt fetch of the stage1 ${aci} for the tests' store template failed (${r.status}): ${r.stderr}`);
    }
    const prints: [string, string][] = [];
    walk(dataDir, (p, isDir) => {
      const rel = relative(dataDir, p);
      if (!isDir && linkable(rel)) prints.push([rel, fingerprint(p)]);
    });
    writeFileSync(join(making, PRINTS), JSON.stringify(prints));
    mkdirSync(dirname(root), { recursive: true });
    try {
      renameSync(making, root);
    } catch {
      // Another process made it meanwhile.
      rmSync(making, { recursive: true, force: true });
      return load();
    }
    return load();
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

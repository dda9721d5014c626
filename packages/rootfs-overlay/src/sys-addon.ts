import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What native/sys.c exports. */
export interface SysAddon {
  flock(fd: number, exclusive: boolean, nonblocking: boolean): boolean;
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void;
  umount(target: string, flags: number): void;
  idmapBind(source: string, target: string, shift: number, count: number): void;
  spawn(file: string, argv: string[], env: string[] | null, cwd: string | null, fds: number[], newSession: boolean, newProcessGroup: boolean): number;
  exec(file: string, argv: string[], env: string[] | null, cwd: string | null, fds: number[]): never;
  reap(pid: number): [number | undefined, number | undefined] | undefined;
  pipe(): [number, number];
  listenUnix(path: string, backlog: number): number;
  openPty(): OpenedPty;
  ptyResize(fd: number, rows: number, cols: number): void;
  /** True from the call that started the warming thread; the process must then join it before it exits. */
  warmThreadPool(): boolean;
  joinThreadPoolWarmer(): void;
  mapFile(path: string, ascii: true): string | undefined;
  mapFile(path: string, ascii: false): Buffer | undefined;
}

/** A pseudo-terminal pair of the host's devpts (`openPty`): both fds close-on-exec, `path` the slave's. */
export interface OpenedPty {
  readonly master: number;
  readonly slave: number;
  readonly path: string;
}

const ADDON = 'dist/sys.node';
// On globalThis, by the addon's path: the CLI's core and its command bundles each hold a copy of this
// module, and a second dlopen of one addon runs its init again for a second exports object.
const LOADED = Symbol.for('rkt-ts.rootfs-overlay.sys-addons');

/**
 * Where the addon is, from this code's own file: this package's dist/ (its built files) or src/ (its
 * source, under vitest), or a bundle of it elsewhere (stage0's) that finds the package in a
 * node_modules above. Not through the package's exports: resolving them loads Node's ES module
 * resolver, ~5 ms of every `rkt run`.
 */
function addonPath(): string | undefined {
  // A CommonJS bundle's own directory without a URL round trip (its import.meta.url is a shim).
  const here = typeof __dirname === 'string' ? __dirname : dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'sys.node'), join(here, '..', ADDON)];
  for (let dir = here; ; dir = dirname(dir)) {
    candidates.push(join(dir, 'node_modules', '@rkt', 'rootfs-overlay', ADDON));
    if (dirname(dir) === dir) break;
  }
  return candidates.find((c) => existsSync(c));
}

let addon: SysAddon | undefined;

/** The addon, loaded on first use; throws a plain Error where it is not built or does not load. */
export function loadSysAddon(): SysAddon {
  if (addon !== undefined) return addon;
  const path = addonPath();
  if (path === undefined) throw new Error(`no ${ADDON} of @rkt/rootfs-overlay was found from ${fileURLToPath(import.meta.url)}`);
  const global = globalThis as { [LOADED]?: Map<string, SysAddon> };
  const loaded = (global[LOADED] ??= new Map());
  addon = loaded.get(path);
  if (addon === undefined) {
    // What require does with a .node file, without createRequire: node:module costs 0.4 ms of a start
    // (it loads the ES module loader).
    const mod = { exports: {} as SysAddon };
    process.dlopen(mod, path);
    addon = mod.exports;
    loaded.set(path, addon);
  }
  return addon;
}

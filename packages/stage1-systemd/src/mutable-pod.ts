// What the run entrypoint does differently for a mutable pod (`--mutable`, rkt's `rkt app sandbox`, interface
// version 5): the apps' roots reach the running pod through one shared mount, and app statuses are recorded as
// they come, for whatever apps the pod has by then.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Stage1RunContext } from '@rkt/controller';

/** Where the apps' directories are in the pod (rkt's layout: `/opt/stage2/<app>/rootfs`). */
export const STAGE2_DIR = '/opt/stage2';

const MS_BIND = 0x1000;
const MS_REC = 0x4000;
const MS_SHARED = 0x100000;

/**
 * Makes the pod directory's `appsinfo` a shared mount (a recursive bind onto itself, then shared), before nspawn
 * starts: nspawn's bind of it at /opt/stage2 in the pod's mount namespace is then a copy in the same peer group
 * (a slave, once nspawn makes the pod's mounts slaves), so an app root stage0 mounts later at
 * `appsinfo/<app>/rootfs` on the host appears at `/opt/stage2/<app>/rootfs` in the running pod, and its unmount
 * goes the same way. rkt's way (machinectl bind's) went through nspawn's propagation directory, which is not
 * shared with the host where the host's root mount is private, as here. gc unmounts it with the pod's other mounts.
 */
export function shareAppsDir(pod: string, mount: Stage1RunContext['mount'], executed: { loader: string; libPath: string; mountBinary: string }): void {
  const dir = join(pod, 'appsinfo');
  mkdirSync(dir, { recursive: true });
  if (mount !== undefined) {
    mount(dir, dir, null, MS_BIND | MS_REC, null);
    mount(null, dir, null, MS_SHARED, null);
    return;
  }
  // The executed entrypoint has no mount(2): the stage1's own mount(8), run as nspawn is (its loader and libraries).
  for (const args of [['--rbind', dir, dir], ['--make-shared', dir]]) {
    const r = spawnSync(executed.loader, ['--library-path', executed.libPath, executed.mountBinary, ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`cannot share ${dir} with the pod: mount ${args.join(' ')}: ${(r.stderr ?? '').trim() || `exit ${r.status}`}`);
  }
}

/**
 * Calls `settled(app, text)` for each app status the pod's units record (`stage1-status/<app>`, one whole line),
 * whichever apps the pod has by then, once per recorded line: a status removed (the app started again) and written
 * again is told again. Returns how to stop watching.
 */
export function watchMutableStatuses(statusDir: string, settled: (app: string, text: string) => void): () => void {
  const told = new Map<string, string>();
  let finished = false;
  const check = (): void => {
    if (finished) return;
    let names: string[];
    try {
      names = readdirSync(statusDir);
    } catch {
      return;
    }
    const present = new Set<string>();
    for (const name of names) {
      // The started markers (`<app>.started`), the first-failure file and temps are not statuses.
      if (name.startsWith('.') || name.includes('.')) continue;
      let text: string;
      try {
        text = readFileSync(join(statusDir, name), 'utf8');
      } catch {
        continue;
      }
      present.add(name);
      if (!text.endsWith('\n') || told.get(name) === text) continue;
      told.set(name, text);
      settled(name, text);
    }
    for (const name of [...told.keys()]) if (!present.has(name)) told.delete(name);
  };
  const watcher = watch(statusDir, check);
  watcher.on('error', () => {});
  const poll = setInterval(check, 250);
  poll.unref();
  check();
  return () => {
    finished = true;
    watcher.close();
    clearInterval(poll);
  };
}

/** What the run entrypoint decided for the pod's apps, which an app added later gets too (`stage1-mutable.json`). */
export interface MutablePodSettings {
  readonly hostname: string;
  /** run's `--dns-conf-mode` as given, when it was. */
  readonly dnsConfMode?: string;
  readonly insecure: { readonly capabilities: boolean; readonly paths: boolean; readonly seccomp: boolean };
  /** Variables every app gets besides its own (the metadata service's URL). */
  readonly environment: ReadonlyArray<{ name: string; value: string }>;
  /** run's `--debug`: the pod's systemd says what it does on the console. */
  readonly debug: boolean;
  /** The host ID of the pod's root in a user namespace: the owner of the files run writes into the apps' roots. */
  readonly owner?: number;
}

const SETTINGS_FILE = 'stage1-mutable.json';

export function writeMutablePodSettings(pod: string, settings: MutablePodSettings): void {
  writeFileSync(join(pod, SETTINGS_FILE), `${JSON.stringify(settings)}\n`);
}

export function readMutablePodSettings(pod: string): MutablePodSettings {
  try {
    return JSON.parse(readFileSync(join(pod, SETTINGS_FILE), 'utf8')) as MutablePodSettings;
  } catch (err) {
    throw new Error(`the pod is not a mutable pod of this stage1 (${SETTINGS_FILE}: ${(err as Error).message})`, { cause: err });
  }
}

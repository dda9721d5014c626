import { closeSync, constants, openSync, readdirSync, readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import { flock } from '@rkt/rootfs-overlay/sys';
import { join } from 'node:path';
import { POD_FILES } from './layout.js';

/** An app's recorded exit status (`appsinfo/<app>/exit`, decimal), or undefined while there is none. */
export function readAppExit(podDir: string, app: string): number | undefined {
  try {
    const text = readFileSync(join(podDir, POD_FILES.appExit(app)), 'utf8').trim();
    return /^[0-9]+$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Tells `onExit` of each app's exit as its status file appears, for a stage1 that records them while the pod
 * runs (systemd's does, by rename): in a pod of several apps one may end long before the others, and
 * `app/exited` then says so when it happens rather than at the pod's end. `stop()` ends the watch and gives
 * the apps already told of; a stage1 that records nothing before the end costs an inotify watch per app.
 */
export function watchAppExits(podDir: string, apps: readonly string[], onExit: (app: string, status: number) => void): { stop(): ReadonlySet<string> } {
  const told = new Set<string>();
  const watchers: FSWatcher[] = [];
  const look = (app: string) => {
    if (told.has(app)) return;
    const status = readAppExit(podDir, app);
    if (status === undefined) return;
    told.add(app);
    onExit(app, status);
  };
  for (const app of apps) {
    try {
      const w = watch(join(podDir, POD_FILES.appDir(app)), (_event, file) => {
        if (file === 'exit') look(app);
      });
      // A watched directory removed (the pod being deleted) is an error event: the end reports what is left.
      w.on('error', () => w.close());
      watchers.push(w);
    } catch {
      // No directory to watch: the end reports this app.
    }
    // Recorded before the watch began.
    look(app);
  }
  return {
    stop() {
      for (const w of watchers) w.close();
      return told;
    },
  };
}

/**
 * Whether an `rkt app` command holds the pod's manifest lock now (a shared flock tried without waiting, let go at
 * once): a command that tries meanwhile waits 20 ms and tries again.
 */
function manifestLocked(podDir: string): boolean {
  let fd: number;
  try {
    fd = openSync(join(podDir, POD_FILES.manifestLock), constants.O_RDONLY);
  } catch {
    return false; // No app command ever ran.
  }
  try {
    return !flock(fd, { exclusive: false, nonblocking: true });
  } finally {
    closeSync(fd);
  }
}

/**
 * `watchAppExits` for a mutable pod, whose apps come and go while it runs and may run more than once: looks at every
 * app directory of the pod (`appsinfo/*`) every `intervalMs`, and tells `onExit` once per run of an app, a run
 * being known by its `started` mark (`startApp` writes it anew before each start) and its exit by an `exit` written
 * since. `rkt app start` publishes the run's `app/started` on another connection: it does so, and has the bus's
 * server confirm it, before it lets go of the manifest lock, so an exit is told only while no app command holds
 * that lock, and a subscriber sees the start first however soon the app ended. A start killed at any point lets go
 * of the lock with its process (flock), so its run's exit is told all the same. `stop()` looks a last time
 * (the pod has ended: a lock still held is not waited for), then ends.
 */
export function watchMutableAppExits(podDir: string, onExit: (app: string, status: number) => void, intervalMs = 200): { stop(): void } {
  const told = new Map<string, number>();
  const look = (final: boolean): void => {
    let apps: string[];
    try {
      apps = readdirSync(join(podDir, 'appsinfo'));
    } catch {
      return;
    }
    let locked: boolean | undefined;
    for (const app of apps) {
      let run: number;
      let exitedAt: number;
      try {
        run = statSync(join(podDir, POD_FILES.appStarted(app))).mtimeMs;
        exitedAt = statSync(join(podDir, POD_FILES.appExit(app))).mtimeMs;
      } catch {
        continue; // Never started by `rkt app start`, or not ended.
      }
      // An exit older than the mark is the last run's, left until the stage1's start clears it.
      if (told.get(app) === run || exitedAt < run) continue;
      const status = readAppExit(podDir, app);
      if (status === undefined) continue;
      // Looked at after the exit: a start that was under way when it was written has published and ended (or died).
      locked ??= !final && manifestLocked(podDir);
      if (locked) return;
      told.set(app, run);
      onExit(app, status);
    }
  };
  const timer = setInterval(() => look(false), intervalMs);
  timer.unref();
  look(false);
  return {
    stop() {
      clearInterval(timer);
      look(true);
    },
  };
}

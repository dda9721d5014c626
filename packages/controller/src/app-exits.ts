import { readdirSync, readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
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
 * `watchAppExits` for a mutable pod, whose apps come and go while it runs and may run more than once: looks at every
 * app directory of the pod (`appsinfo/*`) every `intervalMs`, and tells `onExit` once per run of an app, a run
 * being known by its `started` marker (`startApp` writes it anew each time). `stop()` looks a last time, then ends.
 */
export function watchMutableAppExits(podDir: string, onExit: (app: string, status: number) => void, intervalMs = 200): { stop(): void } {
  const told = new Map<string, number>();
  const look = (): void => {
    let apps: string[];
    try {
      apps = readdirSync(join(podDir, 'appsinfo'));
    } catch {
      return;
    }
    for (const app of apps) {
      let run: number;
      try {
        run = statSync(join(podDir, POD_FILES.appDir(app), 'started')).mtimeMs;
      } catch {
        continue; // Never started by `rkt app start`.
      }
      if (told.get(app) === run) continue;
      const status = readAppExit(podDir, app);
      if (status === undefined) continue;
      told.set(app, run);
      onExit(app, status);
    }
  };
  const timer = setInterval(look, intervalMs);
  timer.unref();
  look();
  return {
    stop() {
      clearInterval(timer);
      look();
    },
  };
}

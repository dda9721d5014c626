// An app of the pod manifest as its unit is made of it, by the run entrypoint for the pod's apps and by app/add
// for one added to a running mutable pod: one place, so that both give an app the same unit.
import { checkAppPaths } from './app-paths.js';
import { resolveId } from './ids.js';
import type { AppStdin, AppUnitSpec } from './units.js';

/** An app as the pod manifest (`pod`) has it, in what the stage1 reads of it. */
export interface PodApp {
  name: string;
  readOnlyRootFS?: boolean;
  /** The runtime app's annotations: rkt's stream modes (`coreos.com/rkt/stage2/stdin`...) among them. */
  annotations?: Array<{ name: string; value: string }>;
  app?: {
    exec?: string[];
    user?: string;
    group?: string;
    workingDirectory?: string;
    environment?: Array<{ name: string; value: string }>;
    supplementaryGIDs?: number[];
    eventHandlers?: Array<{ name: string; exec: string[] }>;
    ports?: Array<{ name: string; protocol: string; port: number }>;
  };
}

/** The handler of an appc event (`pre-start`, `post-stop`) of an app, if its manifest has one. */
export function eventHandler(a: PodApp, name: string): string[] | undefined {
  return a.app?.eventHandlers?.find((h) => h.name === name)?.exec;
}

/**
 * The app's unit spec, before isolators: its user and group resolved in its root (`rootfs`, on the host), its
 * event handlers, and its exec checked there, a relative one becoming the absolute path found in the app's root
 * (the pod manifest keeps it as the image gave it; a later PATH of the manifest's environment wins, as in
 * appEnvironment). Refused in one line when the root lacks the exec or the working directory.
 */
export async function appUnitSpec(rootfs: string, a: PodApp, environment: AppUnitSpec['environment'], stdin: AppStdin): Promise<AppUnitSpec> {
  const preStart = eventHandler(a, 'pre-start');
  const postStop = eventHandler(a, 'post-stop');
  const workingDirectory = a.app?.workingDirectory ?? '/';
  const uid = await resolveId(rootfs, 'user', a.app?.user, a.name);
  const gid = await resolveId(rootfs, 'group', a.app?.group, a.name);
  const path = a.app?.environment?.findLast((e) => e.name === 'PATH')?.value;
  return {
    name: a.name,
    exec: await checkAppPaths(rootfs, a.name, a.app?.exec ?? [], workingDirectory, path),
    uid,
    gid,
    supplementaryGids: a.app?.supplementaryGIDs ?? [],
    workingDirectory,
    environment,
    ...(preStart !== undefined ? { preStart } : {}),
    ...(postStop !== undefined ? { postStop } : {}),
    stdin,
  };
}

// Shared by the systemd stage1's own pod tests: a data directory and a busybox image per test under the
// built systemd stage1 (cleaned up even when the test fails), what must be gone once a pod has ended, and
// pod manifests for --pod-manifest.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, expect } from 'vitest';
import { buildBusyboxAci, ensureBuilt, podCgroups, podProcesses, RktEnv, STAGE1S } from '../pods/harness.js';

const systemd = STAGE1S.find((s) => s.name === 'systemd')!;

/** Registers the hooks of a file of systemd pod tests; `env` and `aci` are the current test's. */
export function systemdPodTests(): { readonly env: RktEnv; readonly aci: string } {
  const current = {} as { env: RktEnv; aci: string };
  beforeAll(() => ensureBuilt(), 600_000);
  beforeEach(async () => {
    current.env = new RktEnv(systemd);
    current.aci = await buildBusyboxAci(current.env.tmp);
  });
  afterEach(async () => {
    await current.env.cleanup();
  });
  return current;
}

/** Nothing of the pod is left on the host once it exited and was collected. */
export function expectNothingLeft(env: RktEnv, uuid: string): void {
  expect(podProcesses(uuid)).toEqual([]);
  expect(podCgroups(uuid)).toEqual([]);
  expect(existsSync(`/run/systemd/nspawn/propagate/rkt-${uuid}`)).toBe(false);
  expect(env.run(['gc', '--grace-period=0s']).status).toBe(0);
  expect(env.mounts()).toEqual([]);
}

/** Writes a pod manifest (appc 0.8.11) of these apps and pod isolators into `dir`; returns its path. */
export function writePodManifest(dir: string, apps: unknown[], isolators?: unknown[]): string {
  const path = join(dir, 'pod.json');
  writeFileSync(path, JSON.stringify({ acVersion: '0.8.11', acKind: 'PodManifest', apps, ...(isolators !== undefined ? { isolators } : {}) }));
  return path;
}

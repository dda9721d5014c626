import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { POD_FILES } from '@rkt/controller/lean';

/**
 * Pod files of a pod registered with the metadata service (`rkt run --mds-register`). Both stage1s read
 * `mds-url` and give every app `AC_METADATA_URL` from it; gc reads `mds-socket` to unregister the pod
 * from the service it registered with.
 */
export const MDS_POD_FILES = { url: 'mds-url', socket: 'mds-socket' } as const;

/** Fails with one line (MDS_UNAVAILABLE) before anything is prepared when no service answers. */
export async function checkMds(socketPath: string): Promise<void> {
  const { checkMetadataService } = await import('@rkt/metadata-service');
  await checkMetadataService(socketPath);
}

/**
 * Registers a prepared pod: its manifest and each app's image manifest, from the pod directory. The URL
 * carries the pod's secret token, so its file is readable by root only.
 */
export async function registerWithMds(podDir: string, uuid: string, socketPath: string): Promise<string> {
  const { metadataUrl, registerPod } = await import('@rkt/metadata-service');
  const manifest = JSON.parse(readFileSync(join(podDir, POD_FILES.manifest), 'utf8')) as { apps: Array<{ name: string }> };
  const apps: Record<string, unknown> = {};
  for (const app of manifest.apps) apps[app.name] = JSON.parse(readFileSync(join(podDir, POD_FILES.appManifest(app.name)), 'utf8'));
  const url = metadataUrl(await registerPod(socketPath, { uuid, manifest, apps }));
  writeWhole(join(podDir, MDS_POD_FILES.socket), `${socketPath}\n`);
  writeWhole(join(podDir, MDS_POD_FILES.url), `${url}\n`);
  return url;
}

/** Two run-prepared of one pod may both write: each file is replaced whole, never torn. */
function writeWhole(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, path);
}

/** gc's and rm's `beforeDelete`: unregisters a pod that was registered; a service that forgot it is fine. */
export async function unregisterFromMds(podDir: string, uuid: string): Promise<void> {
  const file = join(podDir, MDS_POD_FILES.socket);
  if (!existsSync(file)) return;
  const { unregisterPod } = await import('@rkt/metadata-service');
  await unregisterPod(readFileSync(file, 'utf8').trim(), uuid);
}

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { POD_FILES } from '@rkt/controller/lean';
import { fsyncDir, writeFileAtomic } from '@rkt/image-store';

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
  await writeWhole(podDir, MDS_POD_FILES.socket, `${socketPath}\n`);
  await writeWhole(podDir, MDS_POD_FILES.url, `${url}\n`);
  // One sync of the directory for both renames: after a crash gc still finds the socket to unregister from.
  await fsyncDir(podDir);
  return url;
}

/**
 * Two run-prepared of one pod may both write, and the machine may go down after: each file is replaced whole
 * and synced before its rename (the store's write, its temp a dotfile beside it as the controller's pod files).
 */
function writeWhole(podDir: string, name: string, text: string): Promise<void> {
  return writeFileAtomic(join(podDir, name), text, { tmpName: `.${name}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`, syncDir: false, mode: 0o600 });
}

/** gc's and rm's `beforeDelete`: unregisters a pod that was registered; a service that forgot it is fine. */
export async function unregisterFromMds(podDir: string, uuid: string): Promise<void> {
  const file = join(podDir, MDS_POD_FILES.socket);
  if (!existsSync(file)) return;
  const { unregisterPod } = await import('@rkt/metadata-service');
  await unregisterPod(readFileSync(file, 'utf8').trim(), uuid);
}

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { PodError } from './errors.js';
import { writeFileAtomic } from './fsutil.js';
import { POD_FILES, POD_FORMAT_VERSION } from './layout.js';

const imageIdSchema = z.string().regex(/^sha512-[0-9a-f]{128}$/, { message: 'must be an image ID' });

export const podAppInfoSchema = z.object({
  name: z.string(),
  imageId: imageIdSchema,
  imageName: z.string(),
  treeId: z.string(),
  /** The rendered tree's rootfs: the read-only lower directory of the app's rootfs. */
  lower: z.string(),
});
export type PodAppInfo = z.infer<typeof podAppInfoSchema>;

/** Stage0's record of a pod, written once when it is prepared (`pod-info.json`). */
export const podInfoSchema = z.object({
  formatVersion: z.literal(POD_FORMAT_VERSION),
  uuid: z.string(),
  createdAt: z.string(),
  stage1: z.object({ imageId: imageIdSchema, imageName: z.string(), treeId: z.string() }),
  apps: z.array(podAppInfoSchema),
  /** 'copy' is `--no-overlay`; 'auto' uses overlayfs where the kernel has it. */
  rootfsMode: z.enum(['auto', 'copy']),
  inheritEnv: z.boolean(),
});
export type PodInfo = z.infer<typeof podInfoSchema>;

export async function writePodInfo(podDir: string, info: PodInfo): Promise<void> {
  await writeFileAtomic(join(podDir, POD_FILES.info), `${JSON.stringify(podInfoSchema.parse(info), null, 2)}\n`);
}

/**
 * Reads `pod-info.json`, refusing a format newer than this rkt-ts knows. Older formats would be
 * upgraded here, step by step; version 1 is the first, so there is nothing to upgrade yet.
 */
export async function readPodInfo(podDir: string): Promise<PodInfo> {
  const path = join(podDir, POD_FILES.info);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new PodError('POD_FORMAT', `cannot read ${path}: ${(err as Error).message}`, { subject: path, cause: err });
  }
  const version = (raw as { formatVersion?: unknown } | null)?.formatVersion;
  if (typeof version === 'number' && version > POD_FORMAT_VERSION) {
    throw new PodError('POD_VERSION', `${path}: pod format version ${version} is newer than this rkt-ts supports (${POD_FORMAT_VERSION})`, {
      subject: path,
    });
  }
  const parsed = podInfoSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new PodError('POD_FORMAT', `${path}: ${issue?.path.join('.') || 'document'}: ${issue?.message ?? 'invalid'}`, { subject: path });
  }
  return parsed.data;
}

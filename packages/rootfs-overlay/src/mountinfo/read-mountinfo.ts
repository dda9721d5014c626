import { readFile } from 'node:fs/promises';
import { RootfsError } from '../errors.js';
import { parseMountinfo } from './parse-mountinfo.js';
import type { MountInfo } from './parse-mountinfo.js';

export const MOUNTINFO = '/proc/self/mountinfo';

/**
 * Reads and parses this process's mount table (one read: the kernel builds the file per open); with
 * `mentioning`, at least every mount that names one of those paths (`parseMountinfo`).
 */
export async function readMountinfo(file: string = MOUNTINFO, mentioning?: readonly string[]): Promise<MountInfo[]> {
  let content: Buffer;
  try {
    content = await readFile(file);
  } catch (cause) {
    throw new RootfsError('ROOTFS_MOUNTINFO', `cannot read ${file}: ${(cause as Error).message}`, { path: file, cause });
  }
  return parseMountinfo(content, file, mentioning);
}

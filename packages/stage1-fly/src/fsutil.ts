import { open, rename } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';

/** temp + fsync + rename, so a reader sees the old content or the new one, never a torn file. */
export async function writeFileAtomic(path: string, data: string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fh = await open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

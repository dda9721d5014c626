import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from './fsutil.js';
import { makeDirs } from './make-dirs.js';
import type { Layout } from './layout.js';
import { createHash } from './lazy-crypto.js';

/**
 * A copy, outside LevelDB, of the remote records of local files (`file://` URLs): `rkt run --stage1-path=F
 * F.aci` looks both up on every start, and opening LevelDB costs about as much as a Node start. One file
 * per URL, `cas/file-imports/<sha256 of the URL>.json`, written after the index answered. It needs no
 * invalidation: a record counts only while the file's `etag` (size, mtime, inode) is unchanged and its
 * image is still in the store, exactly the conditions the index's record is used under; anything else
 * falls back to the index. A store without the directory (an older rkt-ts made it) simply starts empty.
 *
 * A record's file is named after its URL in base64url, or the URL's sha256 when that name would be too long
 * for a file name: hashing loads node:crypto, ~10 ms that `rkt run` otherwise does without. (Records named
 * by sha256 alone, as earlier rkt-ts versions wrote them, are no longer looked at: the index answers, and
 * the record is written again under its new name.)
 */
interface FileImport {
  readonly url: string;
  readonly etag: string;
  readonly imageId: string;
}

const dirOf = (l: Layout) => join(l.root, 'file-imports');
function pathOf(l: Layout, url: string): string {
  const name = Buffer.from(url).toString('base64url');
  return join(dirOf(l), `${name.length <= 200 ? name : createHash('sha256').update(url).digest('hex')}.json`);
}

export async function readFileImport(l: Layout, url: string, etag: string): Promise<string | undefined> {
  try {
    const r = JSON.parse(await readFile(pathOf(l, url), 'utf8')) as Partial<FileImport>;
    return r.url === url && r.etag === etag && typeof r.imageId === 'string' ? r.imageId : undefined;
  } catch {
    return undefined; // missing, or torn by a power loss: the index answers
  }
}

export async function writeFileImport(l: Layout, record: FileImport): Promise<void> {
  await makeDirs(dirOf(l));
  await writeFileAtomic(pathOf(l, record.url), `${JSON.stringify(record)}\n`, l.tmp);
}

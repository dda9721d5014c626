import type { Hash } from 'node:crypto';
import { createHash } from '../lazy-crypto.js';
import { normalizeEntryName } from './layout-rules.js';
import type { TarEntry } from './tar-reader.js';

/** A regular file's content as the archive has it. */
export interface FileDigest {
  /** Hex SHA-256 of the content. */
  readonly sha256: string;
  readonly size: number;
}

/**
 * The SHA-256 of every regular file's content as it streams by, by normalised name, a hard link sharing its
 * target's: what a tree extracted from the archive holds, so that the store can hash that tree without
 * reading every file back. Fed by the scan's visitor, after the layout rules accepted the entry (names are
 * unique, and a link's target comes before it).
 */
export class FileDigests {
  readonly files = new Map<string, FileDigest>();
  private current: { name: string; size: number; hash: Hash } | undefined;

  /** Whether the entry's contents are wanted (`data` and `end` follow). */
  entry(e: TarEntry, name: string): boolean {
    if (e.type === 'file') {
      this.current = { name, size: e.size, hash: createHash('sha256') };
      // The reader calls `end` only after a body: an empty file is done now.
      if (e.size > 0) return true;
      this.end();
      return false;
    }
    if (e.type === 'hardlink') {
      const target = normalizeEntryName(e.linkname);
      const known = 'name' in target ? this.files.get(target.name) : undefined;
      if (known !== undefined) this.files.set(name, known);
    }
    return false;
  }

  data(chunk: Uint8Array): void {
    this.current?.hash.update(chunk);
  }

  end(): void {
    const c = this.current;
    this.current = undefined;
    if (c !== undefined) this.files.set(c.name, { sha256: c.hash.digest('hex'), size: c.size });
  }
}

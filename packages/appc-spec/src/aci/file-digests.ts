import { normalizeEntryName } from './layout-rules.js';
import type { TarEntry } from './tar-reader.js';

/** A regular file's digest as its archive gave it. */
export interface FileDigest {
  readonly size: number;
  /** Hex SHA-256 of the file's contents. */
  readonly sha256: string;
}

/**
 * Which byte ranges of a tar stream are which rootfs files, for digests taken while the stream is hashed
 * (`scanAci`'s `fileDigests`): a tree extracted from the archive then need not be read back to be hashed.
 * Names are the layout rules' normal form; a hard link gets its target's digest as it was when the link
 * came (the layout rules refuse duplicate names, so no later entry changes it).
 */
export class FileRanges {
  private readonly names: string[] = [];
  private readonly sizes: number[] = [];
  private readonly ids = new Map<string, number>();
  private readonly links: [name: string, id: number][] = [];

  constructor(
    private readonly mark: (id: number, start: number, end: number) => void,
    /** Files digested at most: each costs a little memory until the scan ends; the rest are read back. */
    private readonly max = 200_000,
  ) {}

  entry(name: string, e: TarEntry): void {
    if (!name.startsWith('rootfs/')) return;
    if (e.type === 'file' && e.size > 0 && this.names.length < this.max) {
      const id = this.names.push(name) - 1;
      this.sizes.push(e.size);
      this.ids.set(name, id);
      this.mark(id, e.dataOffset, e.dataOffset + e.size);
    } else if (e.type === 'hardlink') {
      const target = normalizeEntryName(e.linkname);
      const id = 'name' in target ? this.ids.get(target.name) : undefined;
      if (id !== undefined) this.links.push([name, id]);
    }
  }

  /** Name -> digest of every file whose range was hashed whole, given the digests by range id. */
  result(digests: ReadonlyMap<number, string>): Map<string, FileDigest> {
    const out = new Map<string, FileDigest>();
    const add = (name: string, id: number) => {
      const sha256 = digests.get(id);
      if (sha256 !== undefined) out.set(name, { size: this.sizes[id]!, sha256 });
    };
    this.names.forEach((name, id) => add(name, id));
    for (const [name, id] of this.links) add(name, id);
    return out;
  }
}

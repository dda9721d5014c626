import { AppcError } from '../errors.js';
import { parseImageManifest } from '../manifest/image-manifest.js';
import type { ImageManifest } from '../manifest/image-manifest.js';
import { LayoutRules, MANIFEST, normalizeEntryName } from './layout-rules.js';
import type { TarEntry, TarVisitor } from './tar-reader.js';

/**
 * The tar visitor of a scan: every entry goes through the layout rules, and the `manifest` entry's contents are
 * kept (up to `maxSize`) and parsed as soon as they are complete, so a bad manifest fails before the rest of a
 * large archive is read.
 */
export class ManifestCollector implements TarVisitor {
  readonly rules: LayoutRules;
  manifest: ImageManifest | undefined;
  bytes: Buffer | undefined;
  /** Every name (and hard link target) so far is already in the normal form the layout rules give it. */
  namesAsIs = true;
  private parts: Buffer[] = [];
  private length = 0;

  constructor(
    private readonly source: string,
    private readonly maxSize: number,
    /** Sees every entry that passed the layout rules, with its normal name. */
    private readonly onEntry?: (name: string, e: TarEntry) => void,
  ) {
    this.rules = new LayoutRules(source);
  }

  entry(e: TarEntry): boolean {
    const name = this.rules.check(e);
    this.onEntry?.(name, e);
    if (this.namesAsIs && name !== '' && e.name !== name && e.name !== `${name}/`) this.namesAsIs = false;
    if (this.namesAsIs && e.type === 'hardlink') {
      const target = normalizeEntryName(e.linkname);
      if (!('name' in target) || target.name !== e.linkname) this.namesAsIs = false;
    }
    if (name !== MANIFEST) return false;
    if (e.size > this.maxSize) {
      throw new AppcError('APPC_ACI_LAYOUT', `${this.source}: manifest is ${e.size} bytes, over the ${this.maxSize}-byte limit`, {
        source: this.source,
      });
    }
    return true;
  }

  data(chunk: Uint8Array): void {
    this.parts.push(Buffer.from(chunk));
    this.length += chunk.length;
  }

  end(): void {
    this.bytes = Buffer.concat(this.parts, this.length);
    this.parts = [];
    this.manifest = parseImageManifest(this.bytes, `${this.source}: manifest`);
  }

  /** After the last entry: the layout's final checks, then the manifest. */
  finish(): { manifest: ImageManifest; bytes: Buffer } {
    this.rules.finish();
    if (this.manifest === undefined || this.bytes === undefined) {
      throw new AppcError('APPC_ACI_NO_MANIFEST', `${this.source}: no manifest in the archive`, { source: this.source });
    }
    return { manifest: this.manifest, bytes: this.bytes };
  }
}

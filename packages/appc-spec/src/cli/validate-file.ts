import { open, stat } from 'node:fs/promises';
import { checkLayout } from '../aci/build-layout.js';
import { detectCompression } from '../aci/compression.js';
import { scanAci } from '../aci/scan.js';
import { BLOCK, F, headerChecksums, readNumber } from '../aci/tar-header.js';
import { AppcError, ValidationError } from '../errors.js';
import { validateImageManifest } from '../manifest/image-manifest.js';
import { parseJson } from '../manifest/json.js';
import { validatePodManifest } from '../manifest/pod-manifest.js';

export type Kind = 'appimage' | 'layout' | 'manifest';

const MAX_MANIFEST_FILE = 16 << 20;

/** Validates one ACI, layout or manifest file; returns what it was. */
export async function validateOne(file: string, forced: Kind | undefined): Promise<string> {
  const kind = forced ?? (await detectKind(file));
  if (kind === 'layout') {
    await checkLayout(file);
    return 'image layout';
  }
  if (kind === 'appimage') {
    await scanAci(file);
    return 'app container image';
  }
  const fh = await open(file, 'r');
  let bytes: Buffer;
  try {
    const { size } = await fh.stat();
    if (size > MAX_MANIFEST_FILE) throw new AppcError('APPC_VALIDATION', `${file}: ${size} bytes is too large for a manifest`, { source: file });
    bytes = await fh.readFile();
  } finally {
    await fh.close();
  }
  const value = parseJson(bytes, file);
  const acKind = (value as { acKind?: unknown } | null)?.acKind;
  if (acKind === 'PodManifest') {
    validatePodManifest(value, file);
    return 'PodManifest';
  }
  if (acKind === 'ImageManifest' || acKind === undefined || typeof value !== 'object' || value === null) {
    validateImageManifest(value, file);
    return 'ImageManifest';
  }
  throw new ValidationError(file, [{ path: 'acKind', rule: `must be "ImageManifest" or "PodManifest", got ${JSON.stringify(String(acKind).slice(0, 64))}` }]);
}

/** Directories are layouts; compressed files and tar headers are archives; JSON text is a manifest. */
async function detectKind(file: string): Promise<Kind> {
  const st = await stat(file);
  if (st.isDirectory()) return 'layout';
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(BLOCK);
    const { bytesRead } = await fh.read(head, 0, BLOCK, 0);
    const h = head.subarray(0, bytesRead);
    if (detectCompression(h) !== 'none') return 'appimage';
    if (bytesRead === BLOCK) {
      const stored = readNumber(h, 0, F.chksum);
      const sums = headerChecksums(h, 0);
      if (stored === sums.unsigned || stored === sums.signed) return 'appimage';
    }
    const text = h.toString('utf8').trimStart();
    return text.startsWith('{') || text.startsWith('[') ? 'manifest' : 'appimage';
  } finally {
    await fh.close();
  }
}

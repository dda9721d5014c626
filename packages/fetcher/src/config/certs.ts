import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { FetchError } from '../errors.js';

/**
 * Extra CA certificates from `<config dir>/certs.d/*.pem` (or `.crt`), trusted in addition to Node's
 * bundled roots for every https request the fetcher makes. This is how a private registry's (or a
 * test's) CA is given to rkt-ts, rather than by turning TLS checks off.
 */
export async function loadCaCertificates(configDirs: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const dir of configDirs) {
    const certsDir = join(dir, 'certs.d');
    let names: string[];
    try {
      names = (await readdir(certsDir)).filter((n) => n.endsWith('.pem') || n.endsWith('.crt')).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new FetchError('FETCH_CONFIG', `${certsDir}: ${(err as Error).message}`, { subject: certsDir, cause: err });
    }
    for (const name of names) {
      const file = join(certsDir, name);
      const pem = await readFile(file, 'utf8');
      const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
      if (blocks.length === 0) throw new FetchError('FETCH_CONFIG', `${file}: no PEM certificate in the file`, { subject: file });
      for (const block of blocks) {
        try {
          new X509Certificate(block);
        } catch (err) {
          throw new FetchError('FETCH_CONFIG', `${file}: invalid certificate: ${(err as Error).message}`, { subject: file, cause: err });
        }
        out.push(block);
      }
    }
  }
  return out;
}

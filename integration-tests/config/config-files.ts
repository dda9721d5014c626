import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Writes a configuration file `dir/sub/name` (a kind's directory such as `paths.d`): JSON, or text as given (a malformed file). */
export function putConfig(dir: string, sub: string, name: string, content: unknown): string {
  mkdirSync(join(dir, sub), { recursive: true });
  const file = join(dir, sub, name);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return file;
}

import { fs } from './builtins.js';

/**
 * The `Features:` of `rkt version`: `+NAME` present, `-NAME` absent. rkt listed build options
 * (`-TPM +SDJOURNAL`); rkt-ts has no build options, so it lists what it does not implement and
 * what this host provides that rkt-ts uses, each checked cheaply.
 */
export function detectFeatures(procFilesystems = '/proc/filesystems'): string[] {
  return [
    // rkt-ts does not log to a TPM.
    '-TPM',
    `${hasFilesystem(procFilesystems, 'overlay') ? '+' : '-'}OVERLAY`,
  ];
}

function hasFilesystem(path: string, name: string): boolean {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch {
    return false;
  }
  // Lines are `nodev\toverlay` or `\text4`: the name is the last tab-separated field.
  return text.split('\n').some((line) => line.split('\t').pop() === name);
}

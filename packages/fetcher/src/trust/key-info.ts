import type { Key } from 'openpgp';

/** What a user reviews before trusting a key, as rkt printed it. */
export interface KeyInfo {
  readonly fingerprint: string;
  readonly subkeyFingerprints: readonly string[];
  readonly userIds: readonly string[];
}

export function keyInfo(key: Key): KeyInfo {
  return {
    fingerprint: key.getFingerprint().toLowerCase(),
    subkeyFingerprints: key.getSubkeys().map((s) => s.getFingerprint().toLowerCase()),
    userIds: key.getUserIDs(),
  };
}

/** `8B86 DE38 890D DB72 ...`: upper-case groups of four, the way gpg and rkt show fingerprints. */
export function formatFingerprint(fp: string): string {
  return (fp.toUpperCase().match(/.{1,4}/g) ?? []).join(' ');
}

/** rkt's review text: the prefix, where the key came from, its fingerprints and user IDs. */
export function describeKey(info: KeyInfo, location: string, prefix: string | undefined): string {
  const lines = [
    prefix === undefined ? 'Root key' : `Prefix: ${JSON.stringify(prefix)}`,
    `Key: ${JSON.stringify(location)}`,
    `GPG key fingerprint is: ${formatFingerprint(info.fingerprint)}`,
    ...info.subkeyFingerprints.map((s) => `\tSubkey fingerprint: ${formatFingerprint(s)}`),
    ...info.userIds.map((u) => `\t${u}`),
  ];
  return `${lines.join('\n')}\n`;
}

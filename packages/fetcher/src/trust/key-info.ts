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

/** Why a key can no longer vouch for anything new: revoked, or past its expiration, with when (if the key says). */
export interface KeyLapse {
  readonly state: 'revoked' | 'expired';
  readonly since: Date | undefined;
}

/** The key's lapse at `now`, or undefined while it is valid. A key whose self-signatures cannot be read is left to verification. */
export async function keyLapse(key: Key, now = new Date()): Promise<KeyLapse | undefined> {
  if (await key.isRevoked(undefined, undefined, now).catch(() => false)) {
    const dates = key.revocationSignatures.map((s) => s.created).filter((d): d is Date => d instanceof Date);
    return { state: 'revoked', since: dates.sort((a, b) => a.getTime() - b.getTime())[0] };
  }
  const expires = await key.getExpirationTime().catch(() => null);
  if (expires instanceof Date && expires.getTime() <= now.getTime()) return { state: 'expired', since: expires };
  return undefined;
}

/** `has been revoked (on 2026-01-02T03:04:05.000Z)`, `has expired (on ...)`. */
export function describeLapse(lapse: KeyLapse): string {
  return `has ${lapse.state === 'revoked' ? 'been revoked' : 'expired'}${lapse.since === undefined ? '' : ` (on ${lapse.since.toISOString()})`}`;
}

// Lean: parsing these flags is on every `rkt run`, which must not load zod.
import { isAcName, type Mount, type Volume } from '@rkt/appc-spec/lean';
import { CliError } from '../../errors.js';

const VOLUME_KEYS = ['kind', 'source', 'readOnly', 'recursive', 'mode', 'uid', 'gid'] as const;
const KEYS_OF_KIND: Record<'host' | 'empty', readonly string[]> = {
  host: ['kind', 'source', 'readOnly', 'recursive'],
  empty: ['kind', 'readOnly', 'mode', 'uid', 'gid'],
};

/**
 * `NAME,key=value,...` as rkt (and appc's VolumeFromString) read it, into a map that refuses an unknown
 * or repeated key, naming the flag, its value and the key.
 */
function keyValues(flag: string, raw: string, known: readonly string[], first?: string): Map<string, string> {
  const bad = (why: string): CliError => new CliError('CLI_BAD_FLAG_VALUE', `${flag} ${JSON.stringify(raw)}: ${why}`);
  const out = new Map<string, string>();
  const parts = raw.split(',');
  if (first !== undefined) out.set(first, parts.shift() ?? '');
  for (const part of parts) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw bad(`${JSON.stringify(part)} is not key=value`);
    const key = part.slice(0, eq);
    if (!known.includes(key)) throw bad(`unknown key ${JSON.stringify(key)} (keys: ${known.join(', ')})`);
    if (out.has(key)) throw bad(`key ${JSON.stringify(key)} is given twice`);
    out.set(key, part.slice(eq + 1));
  }
  return out;
}

function parseBoolean(flag: string, raw: string, key: string, value: string): boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new CliError('CLI_BAD_FLAG_VALUE', `${flag} ${JSON.stringify(raw)}: ${key} must be true or false, not ${JSON.stringify(value)}`);
}

function parseId(flag: string, raw: string, key: string, value: string): number {
  const n = /^[0-9]{1,10}$/.test(value) ? Number(value) : NaN;
  if (!(n <= 0xfffffffe)) throw new CliError('CLI_BAD_FLAG_VALUE', `${flag} ${JSON.stringify(raw)}: ${key} must be a numeric ID, not ${JSON.stringify(value)}`);
  return n;
}

/**
 * One `--volume`: `NAME,kind=host,source=PATH[,readOnly=true][,recursive=true]` or
 * `NAME,kind=empty[,readOnly=true][,mode=0755][,uid=0][,gid=0]`.
 */
export function parseVolumeFlag(raw: string): Volume {
  const flag = '--volume';
  const bad = (why: string): CliError => new CliError('CLI_BAD_FLAG_VALUE', `${flag} ${JSON.stringify(raw)}: ${why}`);
  const kv = keyValues(flag, raw, VOLUME_KEYS, 'name');
  const name = kv.get('name') as string;
  if (!isAcName(name)) throw bad(`volume name ${JSON.stringify(name)} is not a valid AC Name (lowercase a-z, 0-9 and -)`);
  const kind = kv.get('kind');
  if (kind === undefined) throw bad('kind is required (kind=host or kind=empty)');
  if (kind !== 'host' && kind !== 'empty') throw bad(`kind must be "host" or "empty", not ${JSON.stringify(kind)}`);
  for (const key of kv.keys()) {
    if (key !== 'name' && !KEYS_OF_KIND[kind].includes(key)) throw bad(`key ${JSON.stringify(key)} does not apply to kind=${kind}`);
  }
  const readOnly = kv.has('readOnly') ? { readOnly: parseBoolean(flag, raw, 'readOnly', kv.get('readOnly') as string) } : {};
  if (kind === 'host') {
    const source = kv.get('source');
    if (source === undefined || source === '') throw bad('source is required for kind=host');
    if (!source.startsWith('/')) throw bad(`source ${JSON.stringify(source)} must be an absolute path`);
    const recursive = kv.has('recursive') ? { recursive: parseBoolean(flag, raw, 'recursive', kv.get('recursive') as string) } : {};
    return { name, kind, source, ...readOnly, ...recursive };
  }
  const mode = kv.get('mode') ?? '0755';
  if (!/^0?[0-7]{3,4}$/.test(mode)) throw bad(`mode must be an octal permission mode such as 0755, not ${JSON.stringify(mode)}`);
  return {
    name,
    kind,
    ...readOnly,
    mode,
    uid: kv.has('uid') ? parseId(flag, raw, 'uid', kv.get('uid') as string) : 0,
    gid: kv.has('gid') ? parseId(flag, raw, 'gid', kv.get('gid') as string) : 0,
  };
}

/** Every `--volume`, refusing a name given twice. */
export function parseVolumeFlags(raws: readonly string[]): Volume[] {
  const volumes = raws.map(parseVolumeFlag);
  const seen = new Set<string>();
  for (const v of volumes) {
    if (seen.has(v.name)) throw new CliError('CLI_BAD_FLAG_VALUE', `--volume: volume name ${JSON.stringify(v.name)} is given twice`);
    seen.add(v.name);
  }
  return volumes;
}

/** One `--mount volume=NAME,target=PATH` (appc's Mount: the volume's name and the path in the app). */
export function parseMountFlag(raw: string): Mount {
  const flag = '--mount';
  const bad = (why: string): CliError => new CliError('CLI_BAD_FLAG_VALUE', `${flag} ${JSON.stringify(raw)}: ${why}`);
  const kv = keyValues(flag, raw, ['volume', 'target']);
  const volume = kv.get('volume');
  const target = kv.get('target');
  if (volume === undefined || volume === '') throw bad('volume=NAME is required');
  if (!isAcName(volume)) throw bad(`volume name ${JSON.stringify(volume)} is not a valid AC Name (lowercase a-z, 0-9 and -)`);
  if (target === undefined || target === '') throw bad('target=PATH is required');
  if (!target.startsWith('/')) throw bad(`target ${JSON.stringify(target)} must be an absolute path`);
  return { volume, path: target };
}

/**
 * `--mount` names a volume of the pod: one that no `--volume` gives is refused here, before any image is
 * looked at (a mount point of an image may still bring an implicit volume of its own name, but a mount
 * is the user's and must name the user's volume).
 */
export function checkMountsNameVolumes(mounts: readonly Mount[], volumes: readonly Volume[]): void {
  const names = new Set(volumes.map((v) => v.name));
  for (const m of mounts) {
    if (!names.has(m.volume)) {
      throw new CliError(
        'CLI_BAD_FLAG_VALUE',
        `--mount volume=${m.volume},target=${m.path}: no --volume named ${JSON.stringify(m.volume)}${names.size > 0 ? ` (volumes: ${[...names].join(', ')})` : ''}`,
      );
    }
  }
}

/**
 * One `rkt app add --mnt-volume=name=NAME,kind=host,source=PATH,target=PATH[,readOnly=true]` (or `kind=empty`
 * with its keys): rkt's CRI-style volume of the app's own and its mount in one, a `--volume` with a `target`.
 * Becomes a mount whose `appVolume` is the volume (appc's Mount), which the pod's other apps do not see.
 */
export function parseMountVolumeFlag(raw: string): Mount {
  const flag = '--mnt-volume';
  const bad = (why: string): CliError => new CliError('CLI_BAD_FLAG_VALUE', `${flag} ${JSON.stringify(raw)}: ${why}`);
  const parts = raw.split(',');
  // As --mount says it: a part that is no key=value at all is that, not a missing target.
  const notKeyValue = parts.find((p) => p.indexOf('=') <= 0);
  if (notKeyValue !== undefined) throw bad(`${JSON.stringify(notKeyValue)} is not key=value`);
  const targets = parts.filter((p) => p.startsWith('target='));
  const names = parts.filter((p) => p.startsWith('name='));
  if (targets.length !== 1 || targets[0] === 'target=') throw bad('target=PATH is required, once');
  if (names.length !== 1) throw bad('name=NAME is required, once');
  const target = targets[0]!.slice('target='.length);
  if (!target.startsWith('/')) throw bad(`target ${JSON.stringify(target)} must be an absolute path`);
  const rest = parts.filter((p) => !p.startsWith('target=') && !p.startsWith('name='));
  let volume: Volume;
  try {
    volume = parseVolumeFlag([names[0]!.slice('name='.length), ...rest].join(','));
  } catch (err) {
    // Its reason, about this flag's value rather than a --volume the user did not give.
    throw bad((err as Error).message.replace(/^--volume "[^"]*": /, ''));
  }
  return { volume: volume.name, path: target, appVolume: volume };
}

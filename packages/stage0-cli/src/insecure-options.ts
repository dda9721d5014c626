/**
 * `--insecure-options`: the security checks a user chose to skip, rkt's SecFlags. Single options
 * map to one check each; `all-fetch`, `all-run` and `all` name groups of them.
 */
export const INSECURE_OPTIONS = [
  'none',
  'image',
  'tls',
  'ondisk',
  'http',
  'pubkey',
  'capabilities',
  'paths',
  'seccomp',
  'run-all',
  'all-fetch',
  'all-run',
  'all',
] as const;

export type InsecureOption = (typeof INSECURE_OPTIONS)[number];
type Check = 'image' | 'tls' | 'ondisk' | 'http' | 'pubkey' | 'capabilities' | 'paths' | 'seccomp';

const FETCH_CHECKS: readonly Check[] = ['image', 'tls', 'http', 'pubkey'];
const RUN_CHECKS: readonly Check[] = ['ondisk', 'capabilities', 'paths', 'seccomp'];
const ALL_CHECKS: readonly Check[] = ['image', 'tls', 'ondisk', 'http', 'pubkey', 'capabilities', 'paths', 'seccomp'];

const EXPANSION: Readonly<Record<InsecureOption, readonly Check[]>> = {
  none: [],
  image: ['image'],
  tls: ['tls'],
  ondisk: ['ondisk'],
  http: ['http'],
  pubkey: ['pubkey'],
  capabilities: ['capabilities'],
  paths: ['paths'],
  seccomp: ['seccomp'],
  // Accepted as a spelling of `all-run`, rkt's name for the same group.
  'run-all': RUN_CHECKS,
  'all-fetch': FETCH_CHECKS,
  'all-run': RUN_CHECKS,
  all: ALL_CHECKS,
};

export function isInsecureOption(value: string): value is InsecureOption {
  return (INSECURE_OPTIONS as readonly string[]).includes(value);
}

export class InsecureOptions {
  readonly #skipped: ReadonlySet<Check>;

  /** Options must already be valid (the `--insecure-options` flag checks each one). */
  constructor(options: Iterable<InsecureOption> = []) {
    const skipped = new Set<Check>();
    for (const o of options) for (const c of EXPANSION[o]) skipped.add(c);
    this.#skipped = skipped;
  }

  /** Do not verify image signatures. */
  get skipImageCheck(): boolean {
    return this.#skipped.has('image');
  }
  /** Accept any TLS certificate and host name. */
  get skipTlsCheck(): boolean {
    return this.#skipped.has('tls');
  }
  /** Do not verify the rendered image on disk before running it. */
  get skipOnDiskCheck(): boolean {
    return this.#skipped.has('ondisk');
  }
  /** Allow plain HTTP (credentials then travel in clear text). */
  get allowHttp(): boolean {
    return this.#skipped.has('http');
  }
  /** Trust keys fetched without verification. */
  get considerInsecurePubKeys(): boolean {
    return this.#skipped.has('pubkey');
  }
  /** Give apps every capability rather than the restricted default set. */
  get skipCapabilities(): boolean {
    return this.#skipped.has('capabilities');
  }
  /** Do not mask or make read-only the sensitive paths of /proc and /sys. */
  get skipPaths(): boolean {
    return this.#skipped.has('paths');
  }
  /** Do not apply the default seccomp filter. */
  get skipSeccomp(): boolean {
    return this.#skipped.has('seccomp');
  }
  get skipAll(): boolean {
    return ALL_CHECKS.every((c) => this.#skipped.has(c));
  }
  get skipAny(): boolean {
    return this.#skipped.size > 0;
  }

  /** The skipped checks in rkt's order, or `none`. */
  toString(): string {
    const names = ALL_CHECKS.filter((c) => this.#skipped.has(c));
    return names.length === 0 ? 'none' : names.join(',');
  }
}

import { flag, type FlagSpec } from './argv/flag-spec.js';
import type { ParsedFlags } from './argv/parsed-flags.js';
import { path } from './builtins.js';
import { INSECURE_OPTIONS, InsecureOptions, isInsecureOption, type InsecureOption } from './insecure-options.js';

export const DEFAULT_DATA_DIR = '/var/lib/rkt';
export const DEFAULT_LOCAL_CONFIG_DIR = '/etc/rkt';
export const DEFAULT_SYSTEM_CONFIG_DIR = '/usr/lib/rkt';

/** rkt's absDir: any non-empty path; made absolute against the working directory afterwards. */
function directory(raw: string): string {
  if (raw === '') throw new Error('"" is not a valid directory');
  return raw;
}

function insecureOption(raw: string): string {
  const value = raw.trim();
  if (!isInsecureOption(value)) {
    throw new Error(`${JSON.stringify(value)} is not a valid option; allowed values: ${INSECURE_OPTIONS.join(', ')}`);
  }
  return value;
}

/**
 * rkt's persistent flags, accepted before or after any command. The directories are rkt's own flag type
 * (absDir), not Go strings: its help showed their defaults unquoted (`--dir=/var/lib/rkt`, `--user-config=`).
 */
export const GLOBAL_FLAGS: readonly FlagSpec[] = [
  flag.bool('debug', 'print out more debug information to stderr'),
  flag.string('dir', 'rkt data directory', { default: DEFAULT_DATA_DIR, parse: directory, goType: 'value' }),
  flag.strings(
    'insecure-options',
    `comma-separated list of security features to disable. Allowed values: ${INSECURE_OPTIONS.map((o) => `"${o}"`).join(', ')}`,
    { default: ['none'], separator: ',', parse: insecureOption },
  ),
  flag.string('local-config', 'local configuration directory', { default: DEFAULT_LOCAL_CONFIG_DIR, parse: directory, goType: 'value' }),
  flag.string('system-config', 'system configuration directory', {
    default: DEFAULT_SYSTEM_CONFIG_DIR,
    parse: directory,
    goType: 'value',
  }),
  flag.bool('trust-keys-from-https', 'automatically trust gpg keys fetched from https'),
  flag.string('user-config', 'user configuration directory', { parse: directory, goType: 'value' }),
];

export interface GlobalOptions {
  /**
   * `--dir` made absolute, when it was given; undefined otherwise, and then paths.d's `data` or /var/lib/rkt is
   * the data directory. Ask `CommandContext.dataDir()`, which reads paths.d only when it has to.
   */
  readonly dir: string | undefined;
  readonly debug: boolean;
  readonly insecureOptions: InsecureOptions;
  readonly localConfigDir: string;
  readonly systemConfigDir: string;
  /** Absent unless `--user-config` was given. */
  readonly userConfigDir: string | undefined;
  readonly trustKeysFromHttps: boolean;
}

/** `cwd` is called only for a relative path. */
export function globalOptions(flags: ParsedFlags, cwd: () => string): GlobalOptions {
  const abs = (p: string) => (path.isAbsolute(p) ? path.resolve(p) : path.resolve(cwd(), p));
  const userConfig = flags.string('user-config');
  return {
    dir: flags.changed('dir') ? abs(flags.string('dir')) : undefined,
    debug: flags.bool('debug'),
    insecureOptions: new InsecureOptions(flags.strings('insecure-options') as readonly InsecureOption[]),
    localConfigDir: abs(flags.string('local-config')),
    systemConfigDir: abs(flags.string('system-config')),
    userConfigDir: userConfig === '' ? undefined : abs(userConfig),
    trustKeysFromHttps: flags.bool('trust-keys-from-https'),
  };
}

/** The resolved options on one line, for `--debug` (`dir=` empty without `--dir`: paths.d is read later, if at all). */
export function describeGlobalOptions(g: GlobalOptions): string {
  return [
    `dir=${g.dir ?? ''}`,
    `local-config=${g.localConfigDir}`,
    `system-config=${g.systemConfigDir}`,
    `user-config=${g.userConfigDir ?? ''}`,
    `insecure-options=${g.insecureOptions.toString()}`,
    `trust-keys-from-https=${String(g.trustKeysFromHttps)}`,
  ].join(' ');
}

// Flag declarations only: the command table (loaded on every start) imports this file, so it must stay free
// of the heavy modules the pod commands load.
import { flag, type FlagSpec } from '../../argv/flag-spec.js';

/**
 * rkt's per-app flags: each applies to the image given before it (one given before any image is refused,
 * but for `--mount`, which then applies to every app). Declared repeatable so that every occurrence, and
 * where it was given, reaches `parseApps`; a single-value flag given twice for one image keeps the later.
 */
export const APP_FLAGS: readonly FlagSpec[] = [
  flag.strings('exec', 'override the exec command for the preceding image'),
  flag.strings('name', 'set the name of the preceding image\'s app (default: the base name of the image)'),
  flag.strings('user', 'user override for the preceding image (example: --user=user)'),
  flag.strings('group', 'group override for the preceding image (example: --group=group)'),
  flag.strings('working-dir', 'override the working directory of the preceding image'),
  flag.strings('environment', "environment variable for the preceding image's app, NAME=VALUE; overrides --set-env (example: '--environment=foo=bar')"),
  flag.strings('mount', 'mount a volume into the preceding image\'s app: volume=NAME,target=PATH (before any image: into every app)'),
  flag.strings('memory', "memory limit for the preceding image (example: '--memory=16Mi', '--memory=50M', '--memory=1G')"),
  flag.strings('cpu', "CPU limit for the preceding image (example: '--cpu=500m')"),
  flag.strings('cpu-shares', "CPU shares for the preceding image (example: '--cpu-shares=1024', from 2 to 262144)"),
  flag.strings('oom-score-adj', "oom-score-adj isolator override for the preceding image (example: '--oom-score-adj=-500')"),
  flag.strings('caps-retain', "capability to retain for the preceding image (example: '--caps-retain=CAP_SYS_ADMIN')"),
  flag.strings('caps-remove', "capability to remove for the preceding image (example: '--caps-remove=CAP_SYS_CHROOT,CAP_MKNOD')"),
  flag.strings('seccomp', "seccomp filter override for the preceding image (example: '--seccomp mode=retain,errno=EPERM,chmod,chown')"),
  // rkt 1.30's help texts, word for word (its supplementary-gids text lacks its closing parenthesis).
  flag.strings('readonly-rootfs', "if set, the app's rootfs will be mounted read-only"),
  flag.strings('supplementary-gids', "supplementary group IDs override for the preceding image (examples: '--supplementary-gids=1024,2048'"),
  flag.strings('user-annotation', "set the app's annotations (example: '--user-annotation=foo=bar')"),
  flag.strings('user-label', "set the app's labels (example: '--user-label=foo=bar')"),
  flag.strings('signature', 'local signature file to use in validating the preceding image'),
];

/**
 * rkt's per-app stream modes (RKT_EXPERIMENT_ATTACH only: otherwise unknown flags, as rkt's), hidden from the
 * help as rkt's were; rkt 1.30's help texts. The values are checked in `app-args.ts`.
 */
export const APP_STREAM_FLAGS: readonly FlagSpec[] = [
  flag.strings('stdin', "stdin mode for the preceding application (example: '--stdin=null')", { hidden: true }),
  flag.strings('stdout', "stdout mode for the preceding application (example: '--stdout=log')", { hidden: true }),
  flag.strings('stderr', "stderr mode for the preceding application (example: '--stderr=log')", { hidden: true }),
];

/** Pod flags shared by run and prepare. */
export const POD_FLAGS: readonly FlagSpec[] = [
  flag.strings('set-env', 'environment variable to set for all the apps, in the form NAME=VALUE (--environment overrides it)'),
  flag.strings('set-env-file', 'path to an environment file whose NAME=VALUE lines are set for all the apps'),
  flag.bool('inherit-env', 'inherit all environment variables not set by apps'),
  flag.bool('no-overlay', 'disable overlay filesystem: copy each image tree into the pod'),
  flag.string('pod-manifest', 'the path to the pod manifest. If it is non-empty, then only --stage1-* and --no-overlay flags take effect'),
  flag.string('uuid-file-save', 'write out pod UUID to specified file'),
  flag.strings('volume', 'a volume for the pod: NAME,kind=host,source=PATH[,readOnly=true][,recursive=true] or NAME,kind=empty[,mode=0755,uid=0,gid=0]'),
  flag.string('pull-policy', 'when to fetch an image and its dependencies: "new" (what is not in the store), "update" (ask the server) or "never" (store only)', { default: 'new' }),
  flag.strings('port', 'ports to expose on the host (requires contained network). Syntax: --port=NAME:[HOSTIP:]HOSTPORT'),
  flag.bool('private-users', 'run within user namespaces.'),
];

/**
 * rkt run's metadata service flags (`--mds-register` defaults to false, as in late rkt). The socket is
 * rkt's fixed place; the hidden flag moves it for tests.
 */
export const MDS_FLAGS: readonly FlagSpec[] = [
  flag.bool('mds-register', 'register the pod with the metadata service ("rkt metadata-service"); its apps get AC_METADATA_URL'),
  flag.string('mds-socket', "the metadata service's registration socket", { default: '/run/rkt/metadata-svc.sock', hidden: true }),
];

/** rkt run's and run-prepared's flags that shape the running pod, not its manifest. */
export const RUN_FLAGS: readonly FlagSpec[] = [
  flag.string('hostname', "the pod's hostname (default: rkt-UUID); the fly stage1 keeps the host's"),
  // A bare --net is rkt's --net=default (its NoOptDefVal), not a flag that swallows the image.
  flag.strings('net', 'the pod\'s network: "host", the host\'s (the default); "none", a loopback of its own; or CNI networks (systemd stage1): "default", "default-restricted", networks of <local-config>/net.d, each NAME[:K1=V1;K2=V2] (CNI_ARGS), comma-separated, "all" for every one', { noOptDefault: 'default' }),
  flag.strings('dns', "name servers to write in the apps' /etc/resolv.conf (IP addresses, repeatable or comma-separated); 'host' to use the host's resolv.conf, 'none' to leave each image's own"),
  flag.strings('dns-search', "DNS search domain to write in the apps' /etc/resolv.conf (repeatable)"),
  flag.strings('dns-opt', "DNS option to write in the apps' /etc/resolv.conf (repeatable, example: '--dns-opt=ndots:2')"),
  flag.string('dns-domain', "DNS domain to write in the apps' /etc/resolv.conf"),
  flag.strings('hosts-entry', "entries to add to the apps' /etc/hosts, IP=HOSTNAME (repeatable or comma-separated); 'host' to use the host's /etc/hosts"),
];

/** rkt run's DNS flags: given or not, checked by `dns-flags.ts`. */
export const DNS_FLAG_NAMES = ['dns', 'dns-search', 'dns-opt', 'dns-domain', 'hosts-entry'] as const;

/**
 * One item of a `--net` value (`NAME` or `NAME:ARGS`, between commas), as rkt's NetList read it, in its words:
 * a name, not one already given (`named`), no arguments to a special network (`host`, `none`, `all`), at most
 * one colon. What the name means (a network the stage1 finds, `host` alone) is for later.
 */
export function checkNet(value: string, named: ReadonlySet<string> = new Set()): string | undefined {
  const parts = value.split(':');
  const name = parts[0]!;
  if (name === '') return 'netname must not be empty';
  if (named.has(name)) return `found duplicate netname "${name}"`;
  if (parts.length === 2 && (name === 'host' || name === 'none' || name === 'all')) return `arguments are not supported by special netname "${name}"`;
  if (parts.length > 2) return `network "${name}" provided with invalid arguments: [${parts.slice(1).join(' ')}]`;
  return undefined;
}

/** A `--hostname` value: what sethostname(2) and /etc/hosts take, a DNS name of at most 64 characters. */
export function checkHostname(value: string): string | undefined {
  if (value.length === 0 || value.length > 64) return 'must be 1 to 64 characters long';
  const label = /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$/;
  return value.split('.').every((l) => label.test(l)) ? undefined : 'must be DNS labels (letters, digits, inner hyphens) joined by dots';
}

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { APP_ETC_DIR, IO_DIR, STATUS_DIR } from './units.js';

/** sd_booted()'s test: a host whose init is systemd has /run/systemd/system (`root` for tests). */
export function hostRunsSystemd(root = '/'): boolean {
  return existsSync(join(root, 'run/systemd/system'));
}

/**
 * How the pod meets the host's systemd: where systemd is the host's init, nspawn registers the pod with
 * systemd-machined as its machine (`rkt-UUID`, in `machinectl list`) in a scope of its own; elsewhere
 * there is no machined to register with nor a unit to run the pod in.
 */
export function registrationArgs(systemdHost: boolean): string[] {
  return systemdHost ? ['--register=yes'] : ['--register=no', '--keep-unit'];
}

export interface NspawnOptions {
  /** The pod's root: an overlay of the stage1's tree that run mounted in the pod directory (stage1-root.ts). */
  directory: string;
  uuid: string;
  /** The pod's directories bound into the pod. */
  unitsDir: string;
  passwdFile: string;
  groupFile: string;
  ioDir: string;
  statusDir: string;
  /** Files the apps' units bind (`stage1-app-etc`), when one does. */
  appEtcDir?: string;
  /** rkt's tty mode: each such app's pty slave on the host (`/dev/pts/N`) and its place in the pod. */
  ttys?: ReadonlyArray<{ host: string; pod: string }>;
  /** Each app's root filesystem on the host and its place in the pod. */
  appRoots: ReadonlyArray<{ host: string; pod: string }>;
  hostname?: string;
  /** rkt's `--net=none`: a network namespace of the pod's own, with only its loopback (systemd brings it up). */
  privateNetwork?: boolean;
  /** rkt's CNI networks: the namespace the run entrypoint made and joined to them, which the pod runs in. */
  networkNamespacePath?: string;
  /**
   * rkt's `--private-users`: a user namespace mapping the pod's IDs 0..count-1 to the host's shift..; the pod's
   * root and the apps' roots already show their owners so (stage0 and stage1-root.ts), so nspawn changes none.
   */
  privateUsers?: { readonly shift: number; readonly count: number };
  /** The pod's console: rkt's terminal for an interactive app, else only read (systemd's messages under --debug). */
  console: 'interactive' | 'read-only';
  debug: boolean;
  systemdHost: boolean;
}

/** systemd-nspawn's arguments (after the binary) for a pod, and the systemd command line after `--`. */
export function nspawnArgs(o: NspawnOptions): string[] {
  return [
    '--boot',
    // The pod's own root, not the store's tree with --volatile=overlay: nspawn made that overlay's tmpfs in the
    // host's /tmp, and left it there when killed while it set the pod up.
    `--directory=${o.directory}`,
    `--machine=rkt-${o.uuid}`,
    `--uuid=${o.uuid.replace(/-/g, '')}`,
    ...(o.hostname !== undefined ? [`--hostname=${o.hostname}`] : []),
    ...(o.privateNetwork === true ? ['--private-network'] : []),
    ...(o.networkNamespacePath !== undefined ? [`--network-namespace-path=${o.networkNamespacePath}`] : []),
    ...(o.privateUsers !== undefined ? [`--private-users=${o.privateUsers.shift}:${o.privateUsers.count}`, '--private-users-ownership=off'] : []),
    '--link-journal=no',
    `--console=${o.console}`,
    `--bind-ro=${o.unitsDir}:/etc/systemd/system`,
    `--bind-ro=${o.passwdFile}:/etc/passwd`,
    `--bind-ro=${o.groupFile}:/etc/group`,
    `--bind=${o.ioDir}:${IO_DIR}`,
    `--bind=${o.statusDir}:${STATUS_DIR}`,
    ...(o.appEtcDir !== undefined ? [`--bind=${o.appEtcDir}:${APP_ETC_DIR}`] : []),
    // The stage1 has no zoneinfo nor resolver to offer; the apps bring their own /etc.
    '--timezone=off',
    '--resolv-conf=off',
    ...o.appRoots.map((r) => `--bind=${r.host}:${r.pod}`),
    ...(o.ttys ?? []).map((t) => `--bind=${t.host}:${t.pod}`),
    ...(o.debug ? [] : ['--quiet']),
    ...registrationArgs(o.systemdHost),
    '--',
    // The console is rkt's terminal: systemd keeps quiet there unless debugging.
    ...(o.debug ? [] : ['--show-status=0', '--log-target=null']),
  ];
}

/**
 * rkt's `--private-users=SHIFT:COUNT` of the run entrypoint (rkt's UidRange as its stage0 passed it): the pod's
 * IDs 0..COUNT-1 are the host's SHIFT..; undefined without it. Throws one line on anything else.
 */
export function podPrivateUsers(value: string | undefined): { shift: number; count: number } | undefined {
  if (value === undefined) return undefined;
  const m = /^([0-9]{1,10}):([0-9]{1,10})$/.exec(value);
  const shift = Number(m?.[1]);
  const count = Number(m?.[2]);
  if (m === null || shift === 0 || count === 0 || shift + count > 2 ** 32 - 1) {
    throw new Error(`--private-users=${value}: expected SHIFT:COUNT, a range of host IDs above 0 (as 524288:65536)`);
  }
  return { shift, count };
}

/**
 * rkt's `--net` of the run entrypoint (interface version 1): the host's network (absent, or `host`), `none`, a
 * network namespace of the pod's own with only its loopback, or else rkt's list of CNI networks
 * (`default,mynet:IP=10.1.0.9`; `@rkt/cni` reads it), which the run entrypoint sets up before nspawn starts.
 */
export function podNetwork(net: string | undefined): 'host' | 'none' | { cni: string } {
  if (net === undefined || net === 'host' || net === 'none') return net ?? 'host';
  if (net === '') throw new Error('--net=: netname must not be empty');
  return { cni: net };
}

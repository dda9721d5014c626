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
  /** Each app's root filesystem on the host and its place in the pod. */
  appRoots: ReadonlyArray<{ host: string; pod: string }>;
  hostname?: string;
  /** rkt's `--net=none`: a network namespace of the pod's own, with only its loopback (systemd brings it up). */
  privateNetwork?: boolean;
  /** rkt's CNI networks: the namespace the run entrypoint made and joined to them, which the pod runs in. */
  networkNamespacePath?: string;
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
    ...(o.debug ? [] : ['--quiet']),
    ...registrationArgs(o.systemdHost),
    '--',
    // The console is rkt's terminal: systemd keeps quiet there unless debugging.
    ...(o.debug ? [] : ['--show-status=0', '--log-target=null']),
  ];
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

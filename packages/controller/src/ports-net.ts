import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PodError } from './errors.js';
import { POD_FILES } from './layout.js';

/**
 * Why a forwarded port (rkt's `--port=NAME:[HOSTIP:]HOSTPORT`, the pod manifest's `ports`) cannot be given a pod
 * on `net`, or undefined when it can: rkt forwarded ports into a pod's CNI network, and a pod on the host's
 * network (`host`, also no `--net`) has the host's ports already, one with `none` no network to forward to.
 */
export function portWithoutCniNetProblem(port: string, net: string): string | undefined {
  if (net !== 'host' && net !== 'none') return undefined;
  const why = net === 'none' ? 'a pod with --net=none has no network to forward to' : "a pod on the host's network (--net=host, the default) has the host's ports already";
  return `--port=${port}: forwards a host port to a pod on a CNI network (--net=default): ${why}`;
}

/** A pod manifest's `ports` entry as rkt's flag gave it: `NAME:[HOSTIP:]HOSTPORT`. */
export function portFlagText(p: { name?: unknown; hostPort?: unknown; hostIP?: unknown }): string {
  return `${String(p.name)}:${typeof p.hostIP === 'string' && p.hostIP !== '' ? `${p.hostIP}:` : ''}${String(p.hostPort)}`;
}

/**
 * Refuses to run a prepared pod whose manifest forwards ports (`rkt prepare --port`) on a network the stage1
 * would forward none on, before it leaves `prepared/`: a stage1 ignores `ports` without a CNI network, so the
 * ports asked for would silently not be there.
 */
export function checkPodPortsNet(podDir: string, net: string | undefined, subject: string): void {
  if (net !== undefined && net !== 'host' && net !== 'none') return;
  let ports: unknown;
  try {
    ports = (JSON.parse(readFileSync(join(podDir, POD_FILES.manifest), 'utf8')) as { ports?: unknown }).ports;
  } catch {
    // An unreadable manifest is the stage1's to report, as it was before.
    return;
  }
  if (!Array.isArray(ports) || ports.length === 0) return;
  throw new PodError('POD_NET', portWithoutCniNetProblem(portFlagText(ports[0] as Record<string, unknown>), net ?? 'host')!, { subject });
}

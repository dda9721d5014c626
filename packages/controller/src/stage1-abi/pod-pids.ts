import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The processes a stage1 names in the pod directory (the stage1 implementors' guide's `pid` and `ppid`). */
export interface PodPids {
  /** The pod's first process: the app for fly, the pod's init (systemd) for the systemd stage1. */
  readonly pid: number | undefined;
  /** The process that supervises the pod (`ppid`, e.g. systemd-nspawn), when the stage1 wrote one. */
  readonly supervisor: number | undefined;
}

function readPid(path: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
  if (!/^[0-9]+$/.test(text) || Number(text) <= 1) throw new Error(`${path}: not a pid: ${JSON.stringify(text)}`);
  return Number(text);
}

/** The children of a live process, or [] once it is gone. */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter((c) => c !== '')
      .map(Number);
  } catch {
    return [];
  }
}

/**
 * Reads `pid`, else `ppid` and its single child (rkt's two ways for a stage1 to name the pod's
 * first process). A pod whose supervisor has exited has no pid.
 */
export function readPodPids(podDir: string): PodPids {
  const pid = readPid(join(podDir, 'pid'));
  const supervisor = readPid(join(podDir, 'ppid'));
  if (pid !== undefined || supervisor === undefined) return { pid, supervisor };
  const children = childrenOf(supervisor);
  return { pid: children.length === 1 ? children[0] : undefined, supervisor };
}

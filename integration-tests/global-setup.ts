// The pod harness hard-links the stage1 images into /tmp/rkt-stage1s-<pid> per test process and removes
// them on exit, but vitest's workers can end without running exit handlers: whatever this run's
// processes left is removed once every test has finished.
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function parentOf(pid: number): number | undefined {
  try {
    // The command name (field 2) may hold spaces: the parent's PID is the second field after its ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

export function teardown(): void {
  for (const d of readdirSync(tmpdir())) {
    const m = /^rkt-stage1s-([0-9]+)$/.exec(d);
    if (m === null) continue;
    const pid = Number(m[1]);
    // Another run's live process keeps its links; this run's (its workers, or itself) and dead ones go.
    if (!existsSync(`/proc/${pid}`) || pid === process.pid || parentOf(pid) === process.pid) {
      rmSync(join(tmpdir(), d), { recursive: true, force: true });
    }
  }
}

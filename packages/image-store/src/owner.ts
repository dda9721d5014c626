// Temp and trash entries are named after the process that made them (`<pid>.<starttime>.<random>`), so gc can
// tell debris of a dead process from the work of a live one without any lock file: a pid alone could be
// reused, the pair (pid, kernel start time) cannot.
import { processStartTime } from '@rkt/appc-spec/lean';

let self: string | undefined;

export function ownerTag(): string {
  self ??= `${process.pid}.${processStartTime(process.pid) ?? '0'}`;
  return self;
}

export function uniqueName(kind: string): string {
  return `${kind}-${ownerTag()}.${Math.random().toString(36).slice(2, 10)}`;
}

/** Whether the process that created an entry named by `uniqueName` is still running. */
export function ownerAlive(name: string): boolean {
  const m = /^[a-z]+-(\d+)\.(\d+)\./.exec(name);
  if (m === null) return false;
  const [, pid, start] = m;
  return processStartTime(Number(pid)) === start;
}

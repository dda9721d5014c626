// A mutable pod's units and status watch (rkt app sandbox, interface version 5): what the real pods of
// integration-tests/systemd/app.test.ts rely on, line by line.
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readMutablePodSettings, watchMutableStatuses, writeMutablePodSettings } from '../src/mutable-pod.js';
import { appUnit, reaperUnit } from '../src/units.js';

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'stage1-systemd-mutable-'));
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

const spec = { name: 'web', exec: ['/bin/sleep', '100'], uid: 0, gid: 0, workingDirectory: '/', environment: [] };

describe('units of a mutable pod', () => {
  it('records the status of an app that ends, failed or not, without ending the pod', () => {
    const unit = appUnit({ ...spec, stdin: 'null' }, { mutable: true, markStarted: true });
    const recorders = unit.split('\n').filter((l) => /^ExecStop(Post)?=/.test(l));
    expect(recorders).toHaveLength(2);
    for (const recorder of recorders) {
      expect(recorder).toContain('> /rkt/status/web');
      // No first failure named, no halt of the pod's systemd.
      expect(recorder).not.toContain('.first-failure');
      expect(recorder).not.toContain('kill -37');
    }
    // The immutable pod's recorder still does both.
    expect(appUnit(spec)).toContain('kill -37 1');
    expect(reaperUnit('web', undefined, true)).not.toContain('systemctl --no-block exit');
    expect(reaperUnit('web')).toContain('systemctl --no-block exit');
  });

  it("connects an added app's output to the relay's sockets as run's own apps', with no stdin, and marks its start itself", () => {
    const unit = appUnit({ ...spec, stdin: 'null' }, { mutable: true, markStarted: true });
    expect(unit).toContain('\nStandardInput=null\nStandardOutput=file:/rkt/io/web.stdout\nStandardError=file:/rkt/io/web.stderr\n');
    expect(unit).not.toContain('TTYPath=');
    expect(unit).toContain('ExecStartPre=+/bin/dash -c "echo > /rkt/status/web.started"\n');
  });
});

describe('watchMutableStatuses', () => {
  it('tells each whole status line once, for any app, and again after the app ran again', async () => {
    const seen: string[] = [];
    const stop = watchMutableStatuses(tmp, (app, text) => seen.push(`${app}=${text.trim()}`));
    try {
      const until = async (n: number) => {
        for (let i = 0; i < 100 && seen.length < n; i++) await new Promise((r) => setTimeout(r, 20));
      };
      writeFileSync(join(tmp, 'web.started'), '\n');
      writeFileSync(join(tmp, '.first-failure'), 'web\n');
      writeFileSync(join(tmp, 'web'), 'exited 3 exit-code');
      await new Promise((r) => setTimeout(r, 300));
      // A line not yet whole is not a status.
      expect(seen).toEqual([]);
      writeFileSync(join(tmp, 'web'), 'exited 3 exit-code\n');
      writeFileSync(join(tmp, 'db'), 'killed TERM success\n');
      await until(2);
      expect(seen.sort()).toEqual(['db=killed TERM success', 'web=exited 3 exit-code']);
      // The same line again, once the app's status was cleared (it started again), is told again.
      unlinkSync(join(tmp, 'web'));
      await new Promise((r) => setTimeout(r, 300));
      writeFileSync(join(tmp, 'web'), 'exited 3 exit-code\n');
      await until(3);
      expect(seen).toHaveLength(3);
      expect(seen[2]).toBe('web=exited 3 exit-code');
    } finally {
      stop();
    }
  });

  it('keeps the settings of the pod for apps added later', () => {
    writeMutablePodSettings(tmp, { hostname: 'web', debug: false, insecure: { capabilities: false, paths: true, seccomp: false }, environment: [] });
    expect(readMutablePodSettings(tmp)).toEqual({ hostname: 'web', debug: false, insecure: { capabilities: false, paths: true, seccomp: false }, environment: [] });
    expect(() => readMutablePodSettings(join(tmp, 'none'))).toThrow(/not a mutable pod of this stage1/);
  });
});

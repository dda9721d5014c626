// `rkt enter` through each stage1's enter entrypoint, on real pods: the entered command runs in the
// app's namespaces, root, working directory and environment, with rkt's stdin, and its exit status is
// rkt's. Both stage1s are driven the same way by stage0 (--pid, --appname, -- CMD).
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { prepareStage1Stores, RktEnv } from '../pods/harness.js';
import { buildEnterImage, cleanUp, dropStage1Snapshot, ensureStage1sBuilt, podProcesses, STAGE1S, type Stage1Name } from './pods.js';

let env: RktEnv;
let aci: string;

beforeAll(() => {
  ensureStage1sBuilt();
  prepareStage1Stores(...(Object.keys(STAGE1S) as Stage1Name[]).map((name) => ({ name, aci: STAGE1S[name] })));
}, 600_000);
afterAll(() => dropStage1Snapshot());
beforeEach(async () => {
  env = new RktEnv();
  aci = await buildEnterImage(env.tmp);
});
afterEach(() => cleanUp(env));

/** The app leaves a marker in its own root (so the test can tell that root apart) and sleeps. */
const APP = ['--exec', '/bin/sh', '--', '-c', 'echo from-the-app > /tmp/marker; exec sleep 1001'];

describe.each(Object.keys(STAGE1S) as Stage1Name[])('rkt enter (stage1-%s)', (stage1) => {
  const stage1Flag = `--stage1-path=${STAGE1S[stage1]}`;
  beforeEach(() => env.seedStage1(STAGE1S[stage1]));

  it("runs a command among the app's processes, in its root and working directory, with its environment", async () => {
    env.start(['run', stage1Flag, aci, ...APP]);
    const { uuid } = await env.waitRunning();

    const ps = env.run(['enter', uuid, 'ps']);
    expect(ps.stderr).toBe('');
    expect(ps.status).toBe(0);
    // busybox ps: "PID USER COMMAND"; the app is there, and so is ps itself.
    expect(ps.stdout).toMatch(/^\s*[0-9]+ +root +sleep 1001$/m);
    expect(ps.stdout).toMatch(/^\s*[0-9]+ +root +ps$/m);
    // The systemd pod has its own pid namespace, whose PID 1 is the pod's systemd.
    if (stage1 === 'systemd') expect(ps.stdout).toMatch(/^\s*1 +root +\/lib\/systemd\/systemd/m);

    // Default command: the image has no bash, so /bin/sh, reading rkt's stdin.
    const sh = env.run(['enter', uuid], { input: 'cat /tmp/marker; echo "$AC_APP_NAME $FROM_IMAGE $(pwd)"; exit 7\n' });
    expect(sh.stderr).toBe('enter: no command specified, assuming "/bin/sh"\n');
    expect(sh.stdout).toBe('from-the-app\nbusybox image-value /tmp\n');
    expect(sh.status).toBe(7);

    // Flags of the entered command come after "--"; its failure is rkt's status.
    const ls = env.run(['enter', uuid, '--', '/bin/ls', '-d', '/tmp/marker']);
    expect(ls).toEqual({ status: 0, stdout: '/tmp/marker\n', stderr: '' });
    expect(env.run(['enter', uuid, '/bin/false']).status).toBe(1);
    const missing = env.run(['enter', uuid, '/no/such/command']);
    expect(missing.status).toBe(127);
    expect(missing.stderr).toContain('/no/such/command');

    // Entering changed nothing: the pod still runs its app.
    expect(env.status(uuid).state).toBe('running');
  }, 90_000);

  it('refuses an app the pod does not have, and a pod that is not running, in one line', async () => {
    const { done } = env.start(['run', stage1Flag, aci, ...APP]);
    const { uuid } = await env.waitRunning();
    expect(env.run(['enter', '--app=nope', uuid, 'true'])).toEqual({
      status: 254,
      stdout: '',
      stderr: `enter: app "nope" is not in pod ${uuid} (apps: busybox)\n`,
    });
    expect(env.run(['stop', '--force', uuid]).status).toBe(0);
    await done;
    await env.waitState(uuid, 'exited');
    expect(env.run(['enter', uuid, 'true'])).toEqual({
      status: 254,
      stdout: '',
      stderr: `enter: pod ${uuid} isn't currently running (it is exited)\n`,
    });
    expect(env.run(['enter', 'ffffffff', 'true']).status).toBe(254);
    expect(podProcesses(uuid)).toEqual([]);
  }, 90_000);
});

describe('rkt enter into a pod of several apps (stage1-systemd)', () => {
  beforeEach(() => env.seedStage1(STAGE1S.systemd));
  it('needs --app, and enters the app it names', async () => {
    const sleeper = (name: string) => [aci, `--name=${name}`, '--exec', '/bin/sh', '--', '-c', `exec sleep 100${name === 'first' ? 2 : 3}`];
    env.start(['run', `--stage1-path=${STAGE1S.systemd}`, ...sleeper('first'), '---', ...sleeper('second')]);
    const { uuid } = await env.waitRunning();
    expect(env.run(['enter', uuid, 'true'])).toEqual({
      status: 254,
      stdout: '',
      stderr: `enter: pod ${uuid} contains multiple apps (first, second): unable to determine app name: specify app using "rkt enter --app= ..."\n`,
    });
    const r = env.run(['enter', '--app=second', uuid, '/bin/sh', '-c', 'echo "$AC_APP_NAME"; ps']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('second');
    // One pid namespace for the pod: both apps are seen from either.
    expect(r.stdout).toMatch(/sleep 1002$/m);
    expect(r.stdout).toMatch(/sleep 1003$/m);
  }, 90_000);
});

// The stage0 side of the run module (rkt-ts.dev/stage1/run-module): which stage1s have a usable one, loading
// it (or why not), and calling it in the pod directory. The real systemd stage1's module runs real pods in
// integration-tests/systemd/run.test.ts.
import { createRequire } from 'node:module';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stage1RunEntrypoints } from '../src/index.js';
import { loadRunModule, runModuleInPodDir } from '../src/run-module.js';

let dir: string;
beforeEach(() => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'controller-run-module-')));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A pod directory whose stage1 manifest has these annotations besides the run entrypoint's. */
function podWith(annotations: Array<{ name: string; value: string }>): string {
  const pod = join(dir, 'pod');
  mkdirSync(join(pod, 'stage1'), { recursive: true });
  const manifest = {
    acKind: 'ImageManifest',
    acVersion: '0.8.11',
    name: 'example.com/stage1',
    annotations: [{ name: 'coreos.com/rkt/stage1/run', value: '/s1/run' }, ...annotations],
  };
  writeFileSync(join(pod, 'stage1', 'manifest'), JSON.stringify(manifest));
  return pod;
}

/** An extensionless CommonJS file, as in a stage1 image (a package.json of type commonjs beside it). */
function module(name: string, source: string): string {
  const d = join(dir, 'modules');
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'package.json'), '{ "type": "commonjs" }\n');
  writeFileSync(join(d, name), `#!/usr/bin/env node\n${source}\n`);
  return join(d, name);
}

describe('stage1RunEntrypoints', () => {
  it('names the run executable, and the run module when the stage1 annotates one of a supported version', () => {
    const rootfs = (p: string) => join(dir, 'pod', 'stage1', 'rootfs', p);
    expect(stage1RunEntrypoints(podWith([]))).toEqual({ executable: rootfs('s1/run'), module: undefined });
    expect(
      stage1RunEntrypoints(
        podWith([
          { name: 'rkt-ts.dev/stage1/run-module', value: '/s1/run' },
          { name: 'rkt-ts.dev/stage1/run-module-version', value: '1' },
        ]),
      ),
    ).toEqual({ executable: rootfs('s1/run'), module: { path: rootfs('s1/run') } });
  });

  it('gives the reason a module of another version, or of none, is not used', () => {
    const two = stage1RunEntrypoints(
      podWith([
        { name: 'rkt-ts.dev/stage1/run-module', value: '/s1/run' },
        { name: 'rkt-ts.dev/stage1/run-module-version', value: '2' },
      ]),
    );
    expect(two.module).toEqual({ unusable: 'its rkt-ts.dev/stage1/run-module-version "2" is not supported (supported: 1)' });
    const none = stage1RunEntrypoints(podWith([{ name: 'rkt-ts.dev/stage1/run-module', value: '/s1/run' }]));
    expect(none.module).toEqual({ unusable: 'its rkt-ts.dev/stage1/run-module-version "" is not supported (supported: 1)' });
  });
});

describe('loadRunModule and runModuleInPodDir', () => {
  it('runs the module in the pod directory with the lock handle, gives the working directory back, and resolves with its status', async () => {
    const path = module('run', 'exports.run = async (args, ctx) => { exports.seen = { args, lockFd: ctx.lockFd, cwd: process.cwd() }; return 42; };');
    const loaded = loadRunModule(path);
    if (!('module' in loaded)) throw new Error(loaded.unusable);
    const pod = podWith([]);
    const before = process.cwd();
    expect(await runModuleInPodDir(loaded.module, pod, ['--debug', 'UUID'], 7)).toBe(42);
    expect(process.cwd()).toBe(before);
    const { seen } = createRequire(path)(path) as { seen: unknown };
    expect(seen).toEqual({ args: ['--debug', 'UUID'], lockFd: 7, cwd: pod });
  });

  it('gives the working directory back when the module rejects', async () => {
    const loaded = loadRunModule(module('failing', 'exports.run = async () => { throw new Error("no pod today"); };'));
    if (!('module' in loaded)) throw new Error(loaded.unusable);
    const before = process.cwd();
    await expect(runModuleInPodDir(loaded.module, podWith([]), ['UUID'], 3)).rejects.toThrow('no pod today');
    expect(process.cwd()).toBe(before);
  });

  it('calls a module unusable, with the reason, when it is missing, throws while loading or exports no run', () => {
    expect(loadRunModule(join(dir, 'missing'))).toEqual({ unusable: expect.stringMatching(/^it does not load: Cannot find module /) });
    expect(loadRunModule(module('throws', 'throw new Error("broken stage1");'))).toEqual({ unusable: 'it does not load: broken stage1' });
    expect(loadRunModule(module('syntax', 'this is not javascript'))).toEqual({ unusable: expect.stringMatching(/^it does not load: Unexpected identifier/) });
    expect(loadRunModule(module('norun', 'exports.start = () => 0;'))).toEqual({ unusable: 'it exports no run function' });
  });
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { parseArgv } from '../src/argv/parse.js';
import type { CommandContext } from '../src/command.js';
import { ROOT } from '../src/commands/registry.js';
import { parseApps } from '../src/commands/pods/app-args.js';
import { prepareFromCli } from '../src/commands/pods/common.js';
import { CliError } from '../src/errors.js';
import { GLOBAL_FLAGS } from '../src/globals.js';

/** The apps `rkt ARGV...` would prepare, as the CLI parses them. */
function appsOf(...argv: string[]) {
  const inv = parseArgv(argv, ROOT, GLOBAL_FLAGS);
  const ctx = { flags: inv.flags, argsLenAtDash: inv.argsLenAtDash, appArgs: inv.appArgs, cwd: tmpdir() } as unknown as CommandContext;
  return parseApps(ctx, inv.args);
}

/** The one line (the CliError's message) that `rkt ARGV...` fails with. */
function refusal(...argv: string[]): string {
  try {
    appsOf(...argv);
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    return (err as CliError).message;
  }
  throw new Error(`expected ${argv.join(' ')} to be refused`);
}

describe("per-app flags, as rkt's parseApps: each applies to the image before it", () => {
  it('gives a flag between two images to the first of them', () => {
    const apps = appsOf('prepare', 'bb.aci', '--name=first', 'sh2.aci');
    expect(apps.map((a) => [a.image, a.input.name])).toEqual([
      ['bb.aci', 'first'],
      ['sh2.aci', undefined],
    ]);
  });

  it('keeps an --exec for each image', () => {
    const apps = appsOf('prepare', 'bb.aci', '--exec=/bin/true', 'sh2.aci', '--exec', '/bin/echo');
    expect(apps.map((a) => a.input.exec)).toEqual(['/bin/true', '/bin/echo']);
  });

  it('applies every single-value per-app flag to its own image, a later one for the same image winning', () => {
    const apps = appsOf(
      'run',
      'a.aci',
      '--user=1',
      '--group=2',
      '--working-dir=/w',
      '--cpu=1',
      '--cpu=2',
      'b.aci',
      '--name=bee',
      '--name=b2',
      '--oom-score-adj=5',
      '--caps-retain=CAP_KILL',
    );
    expect(apps[0]!.input).toMatchObject({ user: '1', group: '2', workingDirectory: '/w', isolators: [{ name: 'resource/cpu', value: { limit: '2' } }] });
    expect(apps[0]!.input.name).toBeUndefined();
    expect(apps[1]!.input).toMatchObject({ name: 'b2' });
    expect(apps[1]!.input.isolators?.map((i) => i.name)).toEqual(['os/linux/oom-score-adj', 'os/linux/capabilities-retain-set']);
    expect(apps[1]!.input.user).toBeUndefined();
  });

  it('refuses a per-app flag given before any image, naming it', () => {
    for (const f of ['--exec=/bin/true', '--name=x', '--user=0', '--group=0', '--working-dir=/', '--environment=A=1', '--memory=1G', '--cpu=1', '--cpu-shares=2', '--oom-score-adj=1', '--caps-retain=CAP_KILL', '--caps-remove=CAP_KILL', '--seccomp=mode=retain,read']) {
      const name = f.slice(2, f.indexOf('='));
      expect(refusal('prepare', f, 'bb.aci'), f).toBe(`--${name} must follow an image`);
    }
    // With --pod-manifest there is no image for it either.
    expect(refusal('run', '--pod-manifest=pm.json', '--exec=/bin/true')).toBe('--exec must follow an image');
  });

  it('names the flag of an environment variable whose name is not one', () => {
    const rule = 'is not an environment variable name (letters, digits, "_", "." and "-", not starting with a digit)';
    expect(refusal('prepare', 'bb.aci', '--set-env=1BAD=x')).toBe(`--set-env: "1BAD" ${rule}`);
    expect(refusal('run', 'bb.aci', '--environment=A B=x')).toBe(`--environment: "A B" ${rule}`);
  });

  it("keeps the image's user, group and working directory for an empty value, as rkt did", () => {
    const [app] = appsOf('run', 'a.aci', '--user=', '--group=', '--working-dir=');
    expect(app!.input).not.toHaveProperty('user');
    expect(app!.input).not.toHaveProperty('group');
    expect(app!.input).not.toHaveProperty('workingDirectory');
  });

  it('names --working-dir when it is not absolute (not the pod manifest field it becomes)', () => {
    expect(refusal('run', 'a.aci', '--working-dir=rel/dir')).toBe('--working-dir "rel/dir": must be an absolute path');
  });

  it('refuses a second --exec for the same image rather than dropping one', () => {
    expect(refusal('prepare', 'bb.aci', '--exec=/bin/true', '--exec=/bin/echo')).toBe('--exec specified multiple times for the same image');
    expect(refusal('run', 'bb.aci', '--exec=/bin/true', '--', 'x', '---', '--exec=/bin/echo')).toBe('--exec specified multiple times for the same image');
  });

  it('keeps --set-env and --set-env-file pod-wide wherever they are given; --environment is per app and wins', () => {
    const dir = mkdtempSync(join(tmpdir(), 'app-flags-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'env');
    writeFileSync(file, 'FROM_FILE=f\n');
    const apps = appsOf('run', 'a.aci', '--environment=A=own', '--set-env=A=pod', 'b.aci', `--set-env-file=${file}`);
    expect(apps.map((a) => a.input.environment)).toEqual([
      [
        { name: 'FROM_FILE', value: 'f' },
        { name: 'A', value: 'pod' },
        { name: 'A', value: 'own' },
      ],
      [
        { name: 'FROM_FILE', value: 'f' },
        { name: 'A', value: 'pod' },
      ],
    ]);
  });
});

describe('app arguments: "--" after an image up to a lone "---"', () => {
  it('gives each image its own arguments and reads flags again after ---', () => {
    const apps = appsOf('run', 'a.aci', '--exec=/bin/echo', '--', 'hello', '--name=not-a-flag', '--', '---', 'b.aci', '--exec', '/bin/sh', '--', '-c', 'x');
    expect(apps.map((a) => [a.image, a.input.exec, a.input.args])).toEqual([
      ['a.aci', '/bin/echo', ['hello', '--name=not-a-flag', '--']],
      ['b.aci', '/bin/sh', ['-c', 'x']],
    ]);
  });

  it('takes a --- that ends no arguments as a separator of nothing, as rkt did', () => {
    const apps = appsOf('run', 'sl.aci', '---', 'sl.aci', '--name=sl2');
    expect(apps.map((a) => [a.image, a.input.name])).toEqual([
      ['sl.aci', undefined],
      ['sl.aci', 'sl2'],
    ]);
  });

  it("reads pod flags after ---, and a per-app flag after an image's arguments is still that image's", () => {
    const inv = parseArgv(['run', 'a.aci', '--', 'x', '---', '--no-overlay', 'b.aci'], ROOT, GLOBAL_FLAGS);
    expect(inv.flags.bool('no-overlay')).toBe(true);
    expect(inv.args).toEqual(['a.aci', 'b.aci']);
    expect(appsOf('run', 'a.aci', '--', 'x', '---', '--name=still-a', 'b.aci').map((a) => a.input.name)).toEqual(['still-a', undefined]);
  });

  it('refuses arguments before any image, and two sets for one image', () => {
    expect(refusal('run', '--', 'x')).toBe('an image is required before any app arguments');
    expect(refusal('prepare', 'a.aci', '--', 'x', '---', '--', 'y')).toBe('only one set of app arguments allowed per image');
  });
});

describe('--pod-manifest, as rkt: the flags that would say again what the manifest says are refused', () => {
  async function prepareWith(...argv: string[]): Promise<void> {
    const inv = parseArgv(argv, ROOT, GLOBAL_FLAGS);
    const ctx = {
      flags: inv.flags,
      argsLenAtDash: inv.argsLenAtDash,
      appArgs: inv.appArgs,
      cwd: tmpdir(),
      dataDir: () => {
        throw new Error('the store was opened');
      },
    } as unknown as CommandContext;
    await prepareFromCli(ctx, inv.args, false);
  }

  it('refuses images, volumes, mounts and the pod-wide environment beside it, before opening the store', async () => {
    await expect(prepareWith('prepare', '--pod-manifest=p.json', '--set-env=A=1', '--volume=v,kind=empty', 'bb.aci')).rejects.toThrow(
      'conflicting flags set with --pod-manifest: images (bb.aci), --volume, --set-env',
    );
    await expect(prepareWith('run', '--pod-manifest=p.json', '--mount=volume=v,target=/v')).rejects.toThrow('conflicting flags set with --pod-manifest: --mount');
    await expect(prepareWith('run', '--pod-manifest=p.json', '--inherit-env', '--set-env-file=e')).rejects.toThrow(
      'conflicting flags set with --pod-manifest: --set-env-file, --inherit-env',
    );
    // Nothing conflicting: the manifest is read (here, missing), after the checks.
    await expect(prepareWith('run', '--pod-manifest=p.json', '--inherit-env=false')).rejects.toThrow('the store was opened');
  });
});

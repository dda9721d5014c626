import { describe, expect, it } from 'vitest';
import { parseArgv } from '../src/argv/parse.js';
import type { CommandContext } from '../src/command.js';
import { ROOT } from '../src/commands/registry.js';
import { parseApps } from '../src/commands/pods/app-args.js';
import { isolatorsFromFlags, parseCapabilities, parseSeccomp } from '../src/commands/pods/isolators.js';
import { GLOBAL_FLAGS } from '../src/globals.js';
import { refusal as refused } from './refusal.js';

const refusal = (f: () => unknown): string => refused(f, 'CLI_BAD_FLAG_VALUE');


describe('isolator flags', () => {
  it("turns rkt's flags into the runtime app's isolators", () => {
    expect(
      isolatorsFromFlags({ memory: '512M', cpu: '500m', cpuShares: '1024', oomScoreAdj: '-500', capsRetain: 'CAP_NET_RAW,kill', seccomp: 'mode=remove,errno=ENOTSUP,chmod,@rkt/default-blacklist' }),
    ).toEqual([
      { name: 'resource/memory', value: { request: '512M', limit: '512M' } },
      { name: 'resource/cpu', value: { request: '500m', limit: '500m' } },
      { name: 'os/linux/cpu-shares', value: 1024 },
      { name: 'os/linux/oom-score-adj', value: -500 },
      { name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_NET_RAW', 'CAP_KILL'] } },
      { name: 'os/linux/seccomp-remove-set', value: { set: ['chmod', '@rkt/default-blacklist'], errno: 'ENOTSUP' } },
    ]);
    expect(isolatorsFromFlags({})).toEqual([]);
    expect(parseSeccomp('mode=retain,read,write,exit_group')).toEqual({ name: 'os/linux/seccomp-retain-set', value: { set: ['read', 'write', 'exit_group'] } });
    expect(parseCapabilities('caps-remove', 'CAP_MKNOD,cap_mknod')).toEqual(['CAP_MKNOD']);
  });

  it('refuses bad values with the flag, the value and what is wrong', () => {
    expect(refusal(() => isolatorsFromFlags({ memory: '512X' }))).toBe(
      '--memory=512X: not a quantity with a unit such as 512M (suffixes m, k, M, G, T, Ki, Mi, Gi, Ti)',
    );
    expect(refusal(() => isolatorsFromFlags({ memory: '0M' }))).toBe('--memory=0M: must be more than zero');
    expect(refusal(() => isolatorsFromFlags({ cpu: 'half' }))).toContain('--cpu=half: not a quantity');
    expect(refusal(() => isolatorsFromFlags({ cpuShares: '1' }))).toBe('--cpu-shares=1: must be from 2 to 262144');
    expect(refusal(() => isolatorsFromFlags({ oomScoreAdj: 'high' }))).toBe('--oom-score-adj=high: not an integer');
    expect(refusal(() => isolatorsFromFlags({ capsRetain: 'CAP_NET_RAW,CAP_FLY' }))).toBe('--caps-retain=CAP_NET_RAW,CAP_FLY: unknown capability "CAP_FLY"');
    expect(refusal(() => isolatorsFromFlags({ capsRetain: 'CAP_KILL', capsRemove: 'CAP_MKNOD' }))).toContain('cannot be given together');
    expect(refusal(() => parseSeccomp('chmod'))).toBe('--seccomp=chmod: needs mode=retain or mode=remove');
    expect(refusal(() => parseSeccomp('mode=block,chmod'))).toContain('mode must be retain or remove');
    expect(refusal(() => parseSeccomp('mode=remove,chmdo'))).toBe('--seccomp=mode=remove,chmdo: unknown syscall "chmdo"');
    expect(refusal(() => parseSeccomp('mode=remove,errno=nope,chmod'))).toContain('errno "nope" is not an errno name');
    expect(refusal(() => parseSeccomp('mode=retain,errno=EFOO,read'))).toBe('--seccomp=mode=retain,errno=EFOO,read: unknown errno "EFOO"');
    expect(refusal(() => parseSeccomp('mode=remove'))).toContain('names no syscall');
  });

  it('applies a flag to the image before it, also after an app\'s arguments and ---', () => {
    const appsOf = (...argv: string[]) => {
      const inv = parseArgv(argv, ROOT, GLOBAL_FLAGS);
      const ctx = { flags: inv.flags, argsLenAtDash: inv.argsLenAtDash, appArgs: inv.appArgs, cwd: '/' } as unknown as CommandContext;
      return parseApps(ctx, inv.args).map((a) => ({ image: a.image, isolators: (a.input.isolators ?? []).map((i) => i.name) }));
    };
    expect(appsOf('run', 'img1', '--memory=1G', '--oom-score-adj=5', 'img2', '--cpu=1', '--', 'arg', '---', 'img3', '--caps-remove=CAP_MKNOD', '--seccomp', 'mode=retain,read')).toEqual([
      { image: 'img1', isolators: ['resource/memory', 'os/linux/oom-score-adj'] },
      { image: 'img2', isolators: ['resource/cpu'] },
      { image: 'img3', isolators: ['os/linux/capabilities-remove-set', 'os/linux/seccomp-retain-set'] },
    ]);
  });
});

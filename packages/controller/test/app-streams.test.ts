import { describe, expect, it } from 'vitest';
import { appStreamModes, attachModeArgs, isDefaultStreamModes } from '../src/stage1-abi/app-streams.js';

describe("rkt attach's --mode, as rkt's createStage1AttachFlags", () => {
  it('gives the attach entrypoint its action and endpoints', () => {
    expect(attachModeArgs('list')).toEqual(['--action=list']);
    expect(attachModeArgs('auto')).toEqual(['--action=auto-attach']);
    expect(attachModeArgs('')).toEqual(['--action=auto-attach']);
    expect(attachModeArgs('stdin,stderr')).toEqual(['--action=custom-attach', '--tty-in=false', '--tty-out=false', '--stdin=true', '--stdout=false', '--stderr=true']);
    expect(attachModeArgs('tty')).toEqual(['--action=custom-attach', '--tty-in=true', '--tty-out=true', '--stdin=false', '--stdout=false', '--stderr=false']);
    expect(attachModeArgs('tty-out')).toContain('--tty-in=false');
  });

  it('refuses an unknown endpoint and a tty with streams', () => {
    expect(() => attachModeArgs('stdin,bogus')).toThrow(/unknown endpoint "bogus"/);
    expect(() => attachModeArgs('stdin,')).toThrow(/unknown endpoint ""/);
    expect(() => attachModeArgs('tty-in,stdout')).toThrow(/cannot simultaneously attach TTY and streams/);
  });
});

describe('an app’s stream modes from its annotations', () => {
  it('defaults to rkt’s (stdin null, output logged) and reads the annotations', () => {
    expect(appStreamModes('a', undefined)).toEqual({ stdin: 'null', stdout: 'log', stderr: 'log' });
    expect(isDefaultStreamModes(appStreamModes('a', [{ name: 'coreos.com/rkt/stage2/stdout', value: 'log' }]))).toBe(true);
    const m = appStreamModes('a', [
      { name: 'coreos.com/rkt/stage2/stdin', value: 'stream' },
      { name: 'other', value: 'x' },
    ]);
    expect(m).toEqual({ stdin: 'stream', stdout: 'log', stderr: 'log' });
    expect(isDefaultStreamModes(m)).toBe(false);
  });

  it('refuses a mode rkt did not allow for that stream, naming the app and annotation', () => {
    expect(() => appStreamModes('web', [{ name: 'coreos.com/rkt/stage2/stdin', value: 'log' }])).toThrow('app web: annotation coreos.com/rkt/stage2/stdin="log" is not a stdin mode (null, stream, tty)');
    expect(() => appStreamModes('web', [
      { name: 'coreos.com/rkt/stage2/stdin', value: 'stream' },
      { name: 'coreos.com/rkt/stage2/stderr', value: 'tty' },
    ])).toThrow('app web: --stderr=tty cannot be combined with --stdin=stream (an app attaches a terminal or streams)');
    expect(appStreamModes('web', [{ name: 'coreos.com/rkt/stage2/stdin', value: 'tty' }, { name: 'coreos.com/rkt/stage2/stdout', value: 'tty' }])).toEqual({ stdin: 'tty', stdout: 'tty', stderr: 'log' });
  });
});

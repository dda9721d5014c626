import { describe, expect, it } from 'vitest';
import { checkNet } from '../src/commands/pods/flags.js';

describe('--net', () => {
  it('takes "host" and "none", and refuses the CNI networks rkt offered', () => {
    expect(checkNet('host')).toBeUndefined();
    expect(checkNet('none')).toBeUndefined();
    for (const other of ['default', 'default-restricted', 'all', 'mynet', 'mynet:IP=10.1.0.9', '', 'HOST', 'NONE']) {
      expect(checkNet(other), other).toBe("rkt-ts has no pod networks (CNI): a pod has the host's network (--net=host) or a loopback of its own (--net=none)");
    }
  });

  it('refuses arguments to the special networks, in rkt\'s words', () => {
    expect(checkNet('none:IP=10.1.0.9')).toBe('arguments are not supported by special netname "none"');
    expect(checkNet('host:x')).toBe('arguments are not supported by special netname "host"');
  });
});

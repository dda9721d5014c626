import { describe, expect, it } from 'vitest';
import { checkNet } from '../src/commands/pods/flags.js';

describe('--net', () => {
  it('takes "host", the only network rkt-ts pods have, and refuses the networks of their own that rkt offered', () => {
    expect(checkNet('host')).toBeUndefined();
    for (const other of ['default', 'none', 'mynet', 'mynet:IP=10.1.0.9', '', 'HOST']) {
      expect(checkNet(other), other).toBe("rkt-ts has no pod networks (CNI): every pod shares the host's network, which --net=host asks for");
    }
  });
});

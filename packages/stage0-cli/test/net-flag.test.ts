import { describe, expect, it } from 'vitest';
import { checkNet } from '../src/commands/pods/flags.js';

describe('--net', () => {
  it("takes rkt's networks: host, none, the built-in and named CNI networks, with their CNI_ARGS, and all", () => {
    for (const ok of ['host', 'none', 'default', 'default-restricted', 'all', 'mynet', 'mynet:IP=10.1.0.9;X=y', 'HOST']) expect(checkNet(ok), ok).toBeUndefined();
  });

  it("refuses what rkt's NetList refused, in its words", () => {
    expect(checkNet('')).toBe('netname must not be empty');
    expect(checkNet(':IP=1.2.3.4')).toBe('netname must not be empty');
    expect(checkNet('a', new Set(['a']))).toBe('found duplicate netname "a"');
    expect(checkNet('none:IP=10.1.0.9')).toBe('arguments are not supported by special netname "none"');
    expect(checkNet('host:x')).toBe('arguments are not supported by special netname "host"');
    expect(checkNet('all:x')).toBe('arguments are not supported by special netname "all"');
    expect(checkNet('a:b:c')).toBe('network "a" provided with invalid arguments: [b c]');
  });
});

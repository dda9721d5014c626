import { describe, expect, it } from 'vitest';
import { CniError, parseNetList } from '../src/index.js';

describe('parseNetList', () => {
  it("reads rkt's list: names in order, each network's CNI_ARGS, all", () => {
    const l = parseNetList('all,net1:IP=10.1.0.9;X=y,default');
    expect(l.names).toEqual(['all', 'net1', 'default']);
    expect(l.args.get('net1')).toBe('IP=10.1.0.9;X=y');
    expect(l.args.get('default')).toBe('');
    expect(l.all).toBe(true);
  });

  it("refuses what rkt's NetList refused, in its words", () => {
    const line = (v: string) => {
      try {
        parseNetList(v);
      } catch (err) {
        expect(err).toBeInstanceOf(CniError);
        return (err as Error).message;
      }
      return undefined;
    };
    expect(line(',host')).toBe('netname must not be empty');
    expect(line('a,a:x')).toBe('found duplicate netname "a"');
    expect(line('all:x')).toBe('arguments are not supported by special netname "all"');
    expect(line('a:b:c')).toBe('network "a" provided with invalid arguments: [b c]');
  });
});

import { describe, expect, it } from 'vitest';
import { ERRNO_NAMES } from '../src/errno-names.js';
import { NameSet } from '../src/name-set.js';
import { SYSCALL_NAMES } from '../src/syscall-names.js';

describe('NameSet', () => {
  it('holds the words of its text, split on any whitespace, as a Set of them would', () => {
    const text = '\n  read write\topen\n    close   read ';
    const names = new NameSet(text);
    const set = new Set(['read', 'write', 'open', 'close']);
    expect(names.size).toBe(4);
    expect([...names]).toEqual([...set]);
    expect([...names.keys()]).toEqual([...set.keys()]);
    expect([...names.values()]).toEqual([...set.values()]);
    expect([...names.entries()]).toEqual([...set.entries()]);
    for (const n of set) expect(names.has(n)).toBe(true);
    expect(names.has('')).toBe(false);
    expect(names.has('rea')).toBe(false);
    const seen: string[] = [];
    const self = {};
    names.forEach(function (this: unknown, v, k, s) {
      expect(this).toBe(self);
      expect(k).toBe(v);
      expect(s).toBe(names);
      seen.push(v);
    }, self);
    expect(seen).toEqual([...set]);
  });

  it('the syscall and errno lists: the names a seccomp set may give, and no others', () => {
    for (const n of ['read', 'openat2', 'set_mempolicy_home_node', 'clone3']) expect(SYSCALL_NAMES.has(n)).toBe(true);
    for (const n of ['', 'open_tree2', 'READ', 'EPERM']) expect(SYSCALL_NAMES.has(n)).toBe(false);
    for (const n of ['EPERM', 'EHWPOISON', 'ENOTSUP', 'EWOULDBLOCK']) expect(ERRNO_NAMES.has(n)).toBe(true);
    for (const n of ['', 'eperm', 'read', 'EFOO']) expect(ERRNO_NAMES.has(n)).toBe(false);
    expect(SYSCALL_NAMES.size).toBe(362);
    expect(ERRNO_NAMES.size).toBe(134);
  });
});

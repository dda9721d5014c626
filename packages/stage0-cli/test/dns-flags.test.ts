import { describe, expect, it } from 'vitest';
import { parseDnsFlags, type DnsFlagValues } from '../src/commands/pods/dns-flags.js';

const none: DnsFlagValues = { dns: [], dnsSearch: [], dnsOpt: [], hostsEntry: [] };
const parse = (v: Partial<DnsFlagValues>) => parseDnsFlags({ ...none, ...v });
const refusal = (v: Partial<DnsFlagValues>): string => {
  try {
    parse(v);
  } catch (err) {
    expect((err as { code?: string }).code).toBe('CLI_BAD_FLAG_VALUE');
    return (err as Error).message;
  }
  throw new Error(`accepted: ${JSON.stringify(v)}`);
};

describe('rkt run --dns, --dns-search, --dns-opt, --dns-domain, --hosts-entry', () => {
  it('without any: nothing, the stage1 does as it always did', () => {
    expect(parse({})).toBeUndefined();
  });

  it('--dns=host, --dns=none and --hosts-entry=host ask for the host\'s files or the image\'s', () => {
    expect(parse({ dns: ['host'] })).toEqual({ resolv: { mode: 'host' } });
    expect(parse({ dns: ['none'] })).toEqual({ resolv: { mode: 'none' } });
    expect(parse({ hostsEntry: ['host'] })).toEqual({ hosts: { mode: 'host' } });
    expect(parse({ dns: ['host'], hostsEntry: ['host'] })).toEqual({ resolv: { mode: 'host' }, hosts: { mode: 'host' } });
  });

  it('addresses, search domains, options and the domain make the generated file; repeated or comma-separated addresses', () => {
    expect(parse({ dns: ['1.2.3.4', '8.8.8.8,::1'], dnsSearch: ['example.com', 'example.gov'], dnsOpt: ['ndots:2'], dnsDomain: 'x.example' })).toEqual({
      resolv: { mode: 'stage0', nameservers: ['1.2.3.4', '8.8.8.8', '::1'], search: ['example.com', 'example.gov'], options: ['ndots:2'], domain: 'x.example' },
    });
    // rkt generated a file from --dns-search alone too.
    expect(parse({ dnsSearch: ['example.com'] })).toEqual({ resolv: { mode: 'stage0', nameservers: [], search: ['example.com'], options: [] } });
  });

  it('hosts entries grouped by address, in the order given', () => {
    expect(parse({ hostsEntry: ['198.51.100.0=host1,198.51.100.1=host2', '198.51.100.0=host3'] })).toEqual({
      hosts: { mode: 'stage0', entries: [{ ip: '198.51.100.0', names: ['host1', 'host3'] }, { ip: '198.51.100.1', names: ['host2'] }] },
    });
  });

  it('refuses in one line naming the flag and the value', () => {
    expect(refusal({ dns: ['1.2.3'] })).toBe('--dns=1.2.3: 1.2.3 is not an IP address');
    expect(refusal({ dns: ['1.2.3.4,example.com'] })).toBe('--dns=1.2.3.4,example.com: example.com is not an IP address');
    expect(refusal({ dns: [''] })).toBe('--dns="": "" is not an IP address');
    expect(refusal({ dns: ['host', '1.2.3.4'] })).toBe('--dns=host: no other --dns may be given with it (--dns=1.2.3.4)');
    expect(refusal({ dns: ['1.2.3.4', 'none'] })).toBe('--dns=none: no other --dns may be given with it (--dns=1.2.3.4)');
    expect(refusal({ dns: ['host,1.2.3.4'] })).toBe('--dns=host,1.2.3.4: host must be given alone');
    expect(refusal({ dns: ['host'], dnsSearch: ['example.com'] })).toBe("--dns-search=example.com: cannot be given with --dns=host: the host's file is given as it is");
    expect(refusal({ dns: ['none'], dnsDomain: 'x' })).toBe("--dns-domain=x: cannot be given with --dns=none: each image's own file is left as it is");
    expect(refusal({ dnsSearch: ['a b'] })).toMatch(/^--dns-search="a b": must be DNS labels/);
    expect(refusal({ dnsSearch: ['a.com\nnameserver 6.6.6.6'] })).toMatch(/^--dns-search="a\.com\\nnameserver 6\.6\.6\.6": must be DNS labels/);
    expect(refusal({ dnsOpt: ['ndots: 2'] })).toBe('--dns-opt="ndots: 2": must be a resolver option, NAME or NAME:NUMBER (ndots:2, rotate)');
    expect(refusal({ dnsDomain: '' })).toBe('--dns-domain="": must be 1 to 253 characters long');
    expect(refusal({ hostsEntry: ['10.0.0.5'] })).toBe('--hosts-entry=10.0.0.5: 10.0.0.5 is not IP=HOSTNAME');
    expect(refusal({ hostsEntry: ['10.0.0.300=db'] })).toBe('--hosts-entry=10.0.0.300=db: 10.0.0.300 is not an IP address');
    expect(refusal({ hostsEntry: ['10.0.0.5=db,10.0.0.6=bad name'] })).toMatch(/^--hosts-entry="10\.0\.0\.5=db,10\.0\.0\.6=bad name": host name "bad name" must be DNS labels/);
    expect(refusal({ hostsEntry: ['10.0.0.5='] })).toBe('--hosts-entry=10.0.0.5=: host name "" must be 1 to 253 characters long');
    expect(refusal({ hostsEntry: ['host', '10.0.0.5=db'] })).toBe('--hosts-entry=host: no other --hosts-entry may be given with it (--hosts-entry=10.0.0.5=db)');
    expect(refusal({ hostsEntry: ['10.0.0.5=db,host'] })).toBe('--hosts-entry=10.0.0.5=db,host: host must be given alone');
  });
});

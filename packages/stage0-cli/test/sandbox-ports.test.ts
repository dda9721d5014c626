import { describe, expect, it } from 'vitest';
import { parseSandboxPortFlags } from '../src/commands/pods/sandbox-ports.js';
import { refusal as refused } from './refusal.js';

const refusal = (f: () => unknown): string => refused(f, 'CLI_BAD_FLAG_VALUE');


describe("rkt app sandbox --port (rkt's NAME:PROTO:PODPORT:HOSTIP:HOSTPORT)", () => {
  it('gives the pod manifest entries as rkt wrote them, with their podPort', () => {
    expect(parseSandboxPortFlags(['http:tcp:8080:0.0.0.0:80', 'dns:udp:53:10.0.0.1:5353'])).toEqual([
      { name: 'http', hostPort: 80, hostIP: '0.0.0.0', podPort: { name: 'http', protocol: 'tcp', port: 8080, count: 1, socketActivated: false } },
      { name: 'dns', hostPort: 5353, hostIP: '10.0.0.1', podPort: { name: 'dns', protocol: 'udp', port: 53, count: 1, socketActivated: false } },
    ]);
    expect(parseSandboxPortFlags([])).toEqual([]);
  });

  it('refuses a malformed value in one line naming it and the part', () => {
    const format = '(NAME:PROTO:PODPORT:HOSTIP:HOSTPORT)';
    expect(refusal(() => parseSandboxPortFlags(['http:80']))).toBe(`--port=http:80: must have five parts separated by colons ${format}`);
    expect(refusal(() => parseSandboxPortFlags(['http:tcp:8080:0.0.0.0:80:1']))).toBe(`--port=http:tcp:8080:0.0.0.0:80:1: must have five parts separated by colons ${format}`);
    expect(refusal(() => parseSandboxPortFlags(['HTTP:tcp:8080:0.0.0.0:80']))).toBe(`--port=HTTP:tcp:8080:0.0.0.0:80: port name "HTTP" is not an AC Name ${format}`);
    expect(refusal(() => parseSandboxPortFlags(['http:TCP:8080:0.0.0.0:80']))).toBe(`--port=http:TCP:8080:0.0.0.0:80: protocol "TCP" is not tcp or udp ${format}`);
    expect(refusal(() => parseSandboxPortFlags(['http:tcp:65536:0.0.0.0:80']))).toBe(`--port=http:tcp:65536:0.0.0.0:80: pod port "65536" is not 1-65535 ${format}`);
    expect(refusal(() => parseSandboxPortFlags(['http:tcp:8080::80']))).toBe(`--port=http:tcp:8080::80: host IP "" is not an IPv4 address ${format}`);
    expect(refusal(() => parseSandboxPortFlags(['http:tcp:8080:0.0.0.0:x']))).toBe(`--port=http:tcp:8080:0.0.0.0:x: host port "x" is not 1-65535 ${format}`);
  });

  it("refuses a host port forwarded twice by rkt's rule: same protocol and port, on the same address or either on 0.0.0.0", () => {
    expect(refusal(() => parseSandboxPortFlags(['a:tcp:1:0.0.0.0:80', 'b:tcp:2:10.0.0.1:80']))).toBe('--port=b:tcp:2:10.0.0.1:80: host port tcp 10.0.0.1:80 is already forwarded, to pod port 1 by --port=a:tcp:1:0.0.0.0:80');
    expect(refusal(() => parseSandboxPortFlags(['a:tcp:1:10.0.0.1:80', 'b:tcp:1:10.0.0.1:80']))).toBe('--port=b:tcp:1:10.0.0.1:80: host port tcp 10.0.0.1:80 is already forwarded, to pod port 1 by --port=a:tcp:1:10.0.0.1:80');
    // Another protocol, another address (neither 0.0.0.0), another port: four forwards.
    expect(parseSandboxPortFlags(['a:tcp:1:10.0.0.1:80', 'b:udp:1:10.0.0.1:80', 'c:tcp:1:10.0.0.2:80', 'd:tcp:1:10.0.0.1:81'])).toHaveLength(4);
  });
});

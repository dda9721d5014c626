import { CliError } from '../../errors.js';

/**
 * An exposed port of a sandbox's pod manifest (appc's ExposedPort with its `podPort`): a host port forwarded
 * straight to a port of the pod, whichever app comes to listen on it.
 */
export interface SandboxPortFlag {
  readonly name: string;
  readonly hostPort: number;
  readonly hostIP: string;
  readonly podPort: { readonly name: string; readonly protocol: 'tcp' | 'udp'; readonly port: number; readonly count: 1; readonly socketActivated: false };
}

const AC_NAME = /^[a-z0-9]+([-._~/][a-z0-9]+)*$/;
const IPV4 = /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/;
const FORMAT = 'NAME:PROTO:PODPORT:HOSTIP:HOSTPORT';

/**
 * rkt 1.30's `rkt app sandbox --port=NAME:PROTO:PODPORT:HOSTIP:HOSTPORT` (repeatable; `http:tcp:8080:0.0.0.0:80`):
 * unlike run's `--port`, which names a port of an app, the sandbox has no apps yet, so each maps a host port to
 * a pod port directly (rkt's "podPort" form, which the CRI needed), written as rkt wrote it into the pod
 * manifest's `ports`: `{name, hostPort, hostIP, podPort: {name, protocol, port, count: 1, socketActivated:
 * false}}`. PROTO is tcp or udp, HOSTIP an IPv4 address (0.0.0.0: every address of the host), the ports 1-65535
 * (appc's range). A host port forwarded twice is refused as rkt's stage1 refused it (same protocol and port, on
 * the same address or either on 0.0.0.0). Each wrong value is one line naming it.
 */
export function parseSandboxPortFlags(values: readonly string[]): SandboxPortFlag[] {
  const ports: { flag: string; port: SandboxPortFlag }[] = [];
  for (const value of values) {
    const wrong = (why: string) => new CliError('CLI_BAD_FLAG_VALUE', `--port=${value}: ${why} (${FORMAT})`);
    const parts = value.split(':');
    if (parts.length !== 5) throw wrong('must have five parts separated by colons');
    const [name, protocol, podPort, hostIP, hostPort] = parts as [string, string, string, string, string];
    if (!AC_NAME.test(name)) throw wrong(`port name ${JSON.stringify(name)} is not an AC Name`);
    if (protocol !== 'tcp' && protocol !== 'udp') throw wrong(`protocol ${JSON.stringify(protocol)} is not tcp or udp`);
    const number = (what: string, text: string): number => {
      if (!/^[0-9]+$/.test(text) || Number(text) < 1 || Number(text) > 65535) throw wrong(`${what} ${JSON.stringify(text)} is not 1-65535`);
      return Number(text);
    };
    const pod = number('pod port', podPort);
    if (!IPV4.test(hostIP)) throw wrong(`host IP ${JSON.stringify(hostIP)} is not an IPv4 address`);
    const host = number('host port', hostPort);
    const port: SandboxPortFlag = { name, hostPort: host, hostIP, podPort: { name, protocol, port: pod, count: 1, socketActivated: false } };
    const taken = ports.find(({ port: p }) => p.podPort.protocol === protocol && p.hostPort === host && (p.hostIP === hostIP || p.hostIP === '0.0.0.0' || hostIP === '0.0.0.0'));
    if (taken !== undefined) {
      throw new CliError('CLI_BAD_FLAG_VALUE', `--port=${value}: host port ${protocol} ${hostIP}:${host} is already forwarded, to pod port ${taken.port.podPort.port} by --port=${taken.flag}`);
    }
    ports.push({ flag: value, port });
  }
  return ports.map((p) => p.port);
}

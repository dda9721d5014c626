import { CliError } from '../../errors.js';

/** An exposed port of the pod manifest (appc's ExposedPort): the app's port NAME forwarded from the host. */
export interface ExposedPortFlag {
  readonly name: string;
  readonly hostPort: number;
  readonly hostIP?: string;
}

const AC_NAME = /^[a-z0-9]+([-._~/][a-z0-9]+)*$/;
const IPV4 = /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/;

/**
 * rkt's `--port=NAME:[HOSTIP:]HOSTPORT` (run, prepare), repeatable: NAME a port of one of the pod's apps (its
 * image's `ports`; checked by preparePod), HOSTPORT 1-65535 on the host, on HOSTIP only when given. Each
 * becomes an entry of the pod manifest's `ports`, as rkt wrote them; a malformed one is one line naming it.
 */
export function parsePortFlags(values: readonly string[]): ExposedPortFlag[] {
  const ports: ExposedPortFlag[] = [];
  for (const value of values) {
    const wrong = (why: string) => new CliError('CLI_BAD_FLAG_VALUE', `--port=${value}: ${why} (NAME:[HOSTIP:]HOSTPORT)`);
    const parts = value.split(':');
    if (parts.length < 2 || parts.length > 3) throw wrong('must be NAME:HOSTPORT or NAME:HOSTIP:HOSTPORT');
    const [name, ...rest] = parts as [string, ...string[]];
    const hostPort = rest[rest.length - 1]!;
    const hostIP = rest.length === 2 ? rest[0]! : undefined;
    if (!AC_NAME.test(name)) throw wrong(`port name ${JSON.stringify(name)} is not an AC Name`);
    if (!/^[0-9]+$/.test(hostPort) || Number(hostPort) < 1 || Number(hostPort) > 65535) throw wrong(`host port ${JSON.stringify(hostPort)} is not 1-65535`);
    if (hostIP !== undefined && !IPV4.test(hostIP)) throw wrong(`host IP ${JSON.stringify(hostIP)} is not an IPv4 address`);
    if (ports.some((p) => p.name === name)) throw new CliError('CLI_BAD_FLAG_VALUE', `--port=${value}: port ${JSON.stringify(name)} is forwarded twice`);
    ports.push({ name, hostPort: Number(hostPort), ...(hostIP !== undefined ? { hostIP } : {}) });
  }
  return ports;
}

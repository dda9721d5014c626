import { isIP } from 'node:net';
import { ApiServiceError } from './errors.js';

/** rkt's default `--listen` (common.APIServiceListenAddr). */
export const DEFAULT_LISTEN = 'localhost:15441';

export interface ListenAddress {
  /** A host name or an IP address (IPv6 without brackets); '' for every address of the host, as Go's ":PORT". */
  readonly host: string;
  readonly port: number;
}

/**
 * Reads rkt's `--listen` value as Go's net.Listen("tcp", ...) did: HOST:PORT, [IPV6]:PORT or :PORT. Port 0
 * asks the kernel for a free one (what tests use). Anything else is API_BAD_LISTEN, naming the value.
 */
export function parseListen(value: string): ListenAddress {
  const bad = (why: string) => new ApiServiceError('API_BAD_LISTEN', `--listen=${JSON.stringify(value)}: ${why}`);
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):([^:]*)$/.exec(value);
  if (m === null) throw bad('must be HOST:PORT, [IPV6]:PORT or :PORT');
  const host = m[1] ?? m[2] ?? '';
  if (m[1] !== undefined && isIP(host) !== 6) throw bad(`${JSON.stringify(host)} in brackets is not an IPv6 address`);
  if (!/^[0-9]{1,5}$/.test(m[3]!) || Number(m[3]) > 65535) throw bad(`${JSON.stringify(m[3])} is not a port number (0-65535)`);
  if (host !== '' && isIP(host) === 0 && !/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(host)) {
    throw bad(`${JSON.stringify(host)} is not a host name or an IP address`);
  }
  return { host, port: Number(m[3]) };
}

/** The address as grpc-js binds it: every IPv4 and IPv6 address for an empty host, brackets around IPv6. */
export function bindTarget(a: ListenAddress): string {
  if (a.host === '') return `[::]:${a.port}`;
  return isIP(a.host) === 6 ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

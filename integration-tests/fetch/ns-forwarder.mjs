// Runs inside the test's private network namespace as 127.0.0.1:443, passing every connection to the test's
// HTTPS server on a unix socket (a path: reachable across network namespaces). TLS stays end to end: this
// only copies bytes. Usage: node ns-forwarder.mjs SOCKET. Prints "ready" once listening; exits when its
// stdin closes, so a test runner that dies takes the namespace with it.
import { connect, createServer } from 'node:net';

const [socketPath] = process.argv.slice(2);
const server = createServer((client) => {
  const upstream = connect(socketPath);
  client.pipe(upstream);
  upstream.pipe(client);
  // A server that cuts a download off must look cut off to rkt too: pass the close on.
  upstream.on('close', () => client.end());
  client.on('close', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
  client.on('error', () => upstream.destroy());
});
server.listen(443, '127.0.0.1', () => process.stdout.write('ready\n'));
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();

// Builds a Node-API addon from one C file: `node tools/build-native-addon.mjs native/x.c dist/x.node`.
// Node's own headers sit beside its binary (`<prefix>/include/node`, as Debian's and the official builds
// install them); Node-API keeps the addon working across Node versions, so it is built once per checkout.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

const [src, out] = process.argv.slice(2);
if (src === undefined || out === undefined) {
  console.error('usage: build-native-addon.mjs SOURCE.c OUT.node');
  process.exit(2);
}
const headers = join(dirname(process.execPath), '..', 'include', 'node');
if (!existsSync(join(headers, 'node_api.h'))) {
  console.error(`build-native-addon: Node's headers are not in ${headers} (node_api.h); install Node with its headers (Debian: nodejs)`);
  process.exit(1);
}
mkdirSync(dirname(out), { recursive: true });
execFileSync('gcc', ['-O2', '-shared', '-fPIC', '-Wall', '-Wextra', '-Werror', `-I${headers}`, '-o', out, src], { stdio: 'inherit' });

// Writes dist/rkt.cjs, the launcher the repository's bin/rkt points at: bin/rkt.cjs with a shebang that names
// the Node that built it, as distributions install Node programs (`#!/usr/bin/node`). bin/rkt.cjs's own
// `#!/usr/bin/env -S node ...` costs every start an exec of env, its locale files and a PATH search: 1.2-1.4
// ms, about a tenth of what a fly `rkt run` adds to Node's own start. bin/rkt.cjs stays the launcher for any
// other Node. A Node moved or upgraded elsewhere needs a rebuild; the Node's path is one of the build's nx
// inputs (package.json's "nx" section), so nx does not restore a launcher built for another.
import { chmodSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

const source = readFileSync(new URL('../bin/rkt.cjs', import.meta.url), 'utf8');
const [first, ...rest] = source.split('\n');
const PORTABLE = '#!/usr/bin/env -S node ';
if (!first.startsWith(PORTABLE)) throw new Error(`bin/rkt.cjs: its first line is not "${PORTABLE}FLAGS": ${first}`);
const flags = first.slice(PORTABLE.length).trim();
// The kernel passes everything after the interpreter as one argument, so there is room for one flag only,
// and the line must hold no whitespace in the path and fit the kernel's 256-byte shebang buffer.
const direct = `#!${process.execPath} ${flags}`;
const usable = !/\s/.test(process.execPath) && !/\s/.test(flags) && Buffer.byteLength(direct) < 256;
const out = new URL('../dist/rkt.cjs', import.meta.url);
const tmp = new URL(`../dist/.rkt.cjs.${process.pid}.tmp`, import.meta.url);
writeFileSync(tmp, [usable ? direct : first, ...rest].join('\n'));
chmodSync(tmp, 0o755);
renameSync(tmp, out);

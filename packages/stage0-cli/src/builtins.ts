/**
 * The Node built-ins the start-up path uses. `import ... from 'node:fs'` builds an ES module
 * namespace of every fs export, which loads fs/promises as well (1-2 ms of each start);
 * `process.getBuiltinModule` (Node 20.16+) returns the object Node has already loaded.
 */
if (typeof process.getBuiltinModule !== 'function') {
  process.stderr.write(`rkt: needs Node.js 20.16 or later, this is ${process.version}\n`);
  process.exit(254);
}

export const fs = process.getBuiltinModule('fs');
export const path = process.getBuiltinModule('path');

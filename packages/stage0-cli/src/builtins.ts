/**
 * The Node built-ins the start-up path uses. `import ... from 'node:fs'` builds an ES module
 * namespace of every fs export, which loads fs/promises as well (1-2 ms of each start);
 * `process.getBuiltinModule` (Node 20.16+) returns the object Node has already loaded.
 */
export const fs = process.getBuiltinModule('fs');
export const path = process.getBuiltinModule('path');

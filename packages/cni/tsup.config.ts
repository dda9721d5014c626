import { defineConfig } from 'tsup';
import { libraryBuild } from '../../tools/tsup-library.js';

// netinfo is its own small entry (node:fs only): stage0 reads a pod's networks with it on `rkt list`'s path;
// so is call-cgroup, which stage0's gc loads to sweep the plugin calls' cgroups that killed runs left.
export default defineConfig({ ...libraryBuild, entry: { index: 'src/index.ts', netinfo: 'src/netinfo.ts', 'call-cgroup': 'src/call-cgroup.ts' } });

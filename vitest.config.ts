import { configDefaults, defineConfig } from 'vitest/config';

// Workspace packages resolve to their TypeScript source through the `rkt-source` export condition,
// so tests never need a prior build of their dependencies.
const conditions = ['rkt-source', 'import', 'node', 'default'];
const resolve = { conditions };
// Tests run in vite's SSR environment, whose resolver ignores `resolve.conditions`: without this a dynamic
// `import('@rkt/...')` inside a package's source would load that package's built dist (or fail unbuilt).
const ssr = { resolve: { conditions, externalConditions: conditions } };

// Test files run two at a time (the machine's two cores: most of a pod test is CPU, Node starts, nspawn and
// systemd booting), except those that must run alone, which run after all the others, one at a time.
const PARALLEL = { maxWorkers: 2, sequence: { groupOrder: 0 } };
const ALONE = { maxWorkers: 1, sequence: { groupOrder: 1 } };

/**
 * The integration files that cannot share the machine with another test file: machine-wide CNI state (the
 * built-in networks' subnets and leases, iptables nat, fixed host ports), a store every file's pods seed from,
 * or checks that lean on time (a 1 s bound, a process that lives a few milliseconds, the ACE validator's 100 ms
 * per request). pods/races.test.ts is not one: its sub-millisecond windows are forced (the racer stopped with
 * SIGSTOP at each step) or counted and retried until caught, and were caught on a machine at load 24.
 */
const INTEGRATION_ALONE = [
  'pods/cni-net.test.ts',
  'pods/stage1-store.test.ts',
  'ace/ace.test.ts',
  'systemd/run-timing.test.ts',
];

const pkg = (name: string, extra: Record<string, unknown> = {}) => ({
  resolve,
  ssr,
  test: {
    name,
    root: `packages/${name}`,
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    ...PARALLEL,
    ...extra,
  },
});

const integration = (name: string, files: Record<string, unknown>) => ({
  resolve,
  ssr,
  test: {
    name,
    root: 'integration-tests',
    testTimeout: 120_000,
    globalSetup: ['./global-setup.ts'],
    ...files,
  },
});

export default defineConfig({
  test: {
    reporters: ['default', './tools/vitest-summary-reporter.ts'],
    // The root project's global setup runs once per run whichever projects run: it fails the run when
    // the tests leave a mount, process, netns, cgroup, CNI chain or temp dir behind (tools/leak-check).
    globalSetup: ['./tools/leak-check/global-setup.ts'],
    projects: [
      pkg('appc-spec'),
      pkg('stage0-cli'),
      pkg('image-store', { testTimeout: 60_000 }),
      pkg('controller', { testTimeout: 60_000 }),
      pkg('rootfs-overlay', { testTimeout: 60_000 }),
      pkg('stage1-fly', { testTimeout: 60_000 }),
      pkg('stage1-systemd', { testTimeout: 60_000 }),
      pkg('fetcher', { testTimeout: 60_000 }),
      pkg('metadata-service', { testTimeout: 60_000 }),
      pkg('api-service', { testTimeout: 60_000 }),
      // Real plugins on iptables nat and bridges of its own: alone.
      pkg('cni', { testTimeout: 60_000, ...ALONE }),
      // `--project 'integration*'` runs both; a file of INTEGRATION_ALONE is only in the second.
      integration('integration', { include: ['**/*.test.ts'], exclude: [...configDefaults.exclude, ...INTEGRATION_ALONE], ...PARALLEL }),
      integration('integration-alone', { include: INTEGRATION_ALONE, ...ALONE }),
    ],
  },
});

import { defineConfig } from 'vitest/config';

// Workspace packages resolve to their TypeScript source through the `rkt-source` export condition,
// so tests never need a prior build of their dependencies.
const conditions = ['rkt-source', 'import', 'node', 'default'];
const resolve = { conditions };
// Tests run in vite's SSR environment, whose resolver ignores `resolve.conditions`: without this a dynamic
// `import('@rkt/...')` inside a package's source would load that package's built dist (or fail unbuilt).
const ssr = { resolve: { conditions, externalConditions: conditions } };

const pkg = (name: string, extra: Record<string, unknown> = {}) => ({
  resolve,
  ssr,
  test: {
    name,
    root: `packages/${name}`,
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    ...extra,
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
      pkg('cni', { testTimeout: 60_000 }),
      {
        resolve,
        ssr,
        test: {
          name: 'integration',
          root: 'integration-tests',
          include: ['**/*.test.ts'],
          testTimeout: 120_000,
          globalSetup: ['./global-setup.ts'],
        },
      },
    ],
  },
});

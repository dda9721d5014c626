// Compiles fly's run entrypoint (native/fly-run.c) into dist/fly-run, a static program: against musl where
// musl-gcc is installed (Debian's musl-tools; tools/setup installs it), else against glibc, with a note.
// Why musl: the run entrypoint is exec'd by every fly `rkt run`, and a static glibc program's start-up probes
// the CPU (cpuid, which traps to the hypervisor on this project's VMs: 6.8 us each) and applies its tunables and
// IRELATIVE relocations before main: an empty static glibc program took 1.6 ms to run here against 0.7 for
// musl's (hyperfine, 500 runs), and a fly `rkt run` ~0.9 ms less with musl's fly (interleaved).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgDir = fileURLToPath(new URL('..', import.meta.url));
const source = join(pkgDir, 'native', 'fly-run.c');
const output = join(pkgDir, 'dist', 'fly-run');
const flags = ['-O2', '-static', '-Wall', '-Wextra', '-o', output, source];

const has = (tool) => {
  try {
    execFileSync(tool, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

if (has('musl-gcc')) {
  // musl-gcc searches musl's headers only; fly-run.c also includes the kernel's (linux/openat2.h,
  // linux/stat.h), which Debian keeps beside glibc's: linux/, asm-generic/ and the architecture's asm/.
  const headers = mkdtempSync(join(tmpdir(), 'fly-kernel-headers-'));
  try {
    const multiarch = execFileSync('gcc', ['-print-multiarch'], { encoding: 'utf8' }).trim();
    symlinkSync('/usr/include/linux', join(headers, 'linux'));
    symlinkSync('/usr/include/asm-generic', join(headers, 'asm-generic'));
    symlinkSync(join('/usr/include', multiarch, 'asm'), join(headers, 'asm'));
    execFileSync('musl-gcc', ['-isystem', headers, ...flags], { stdio: 'inherit' });
  } finally {
    rmSync(headers, { recursive: true, force: true });
  }
} else {
  console.error('stage1-fly: musl-gcc not found (Debian package musl-tools): fly-run built against glibc, whose static start-up costs each `rkt run` ~1 ms more');
  execFileSync('gcc', flags, { stdio: 'inherit' });
}

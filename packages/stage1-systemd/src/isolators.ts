/**
 * An app's isolators (appc ace.md) as systemd unit directives, the way rkt's stage1 wrote them into its
 * app units: resource limits for the app's cgroup, capabilities, no-new-privileges, a seccomp filter, and
 * rkt's masked paths of /proc and /sys. Every isolator is enforced or refused: one this runtime cannot
 * enforce fails the pod with a message naming the app and the isolator.
 */
import { ERRNO_NAMES, SYSCALL_NAMES } from '@rkt/controller/stage1-abi';

export interface Isolator {
  name: string;
  value: unknown;
}

export class IsolatorError extends Error {
  readonly code = 'STAGE1_ISOLATOR';
}

/** The defaults a user turned off with `rkt run --insecure-options=capabilities,paths,seccomp`. */
export interface InsecureIsolation {
  readonly capabilities: boolean;
  readonly paths: boolean;
  readonly seccomp: boolean;
}

/** Linux capabilities by number (capability.h), the names the appc capability sets use. */
export const CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN',
  'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE', 'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

/** rkt's default capabilities of an app (ace.md's list), when no capability isolator is given. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_AUDIT_WRITE', 'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_KILL', 'CAP_MKNOD',
  'CAP_NET_RAW', 'CAP_NET_BIND_SERVICE', 'CAP_SETUID', 'CAP_SETGID', 'CAP_SETPCAP', 'CAP_SETFCAP', 'CAP_SYS_CHROOT',
];

/**
 * What systemd-nspawn leaves the container by default (nspawn.c's arg_caps_retain, host network): an
 * app's retain-set naming anything else needs nspawn's --capability= too, as rkt's stage1 passed it.
 */
export const NSPAWN_CAPABILITIES: ReadonlySet<string> = new Set([
  'CAP_AUDIT_CONTROL', 'CAP_AUDIT_WRITE', 'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER',
  'CAP_FSETID', 'CAP_IPC_OWNER', 'CAP_KILL', 'CAP_LEASE', 'CAP_LINUX_IMMUTABLE', 'CAP_MKNOD', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_RAW', 'CAP_SETFCAP', 'CAP_SETGID', 'CAP_SETPCAP', 'CAP_SETUID', 'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT', 'CAP_SYS_CHROOT', 'CAP_SYS_NICE', 'CAP_SYS_PTRACE', 'CAP_SYS_RESOURCE',
]);

/**
 * rkt's default seccomp filter (its stage1's RktDefaultSeccompWhitelist, Docker's default allow-list of
 * 2016), plus the calls a current libc and runtime make that did not exist then (clone3, rseq, statx,
 * faccessat2, close_range, ...): without them a program built today would be killed at its first call.
 */
export const DEFAULT_SECCOMP_RETAIN: readonly string[] = `accept accept4 access alarm bind brk capget capset chdir
  chmod chown clock_getres clock_gettime clock_nanosleep close connect copy_file_range creat dup dup2 dup3
  epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_wait epoll_wait_old eventfd eventfd2 execve
  execveat exit exit_group faccessat fadvise64 fallocate fanotify_mark fchdir fchmod fchmodat fchown fchownat fcntl
  fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstatfs fsync ftruncate futex futimesat
  getcpu getcwd getdents getdents64 getegid geteuid getgid getgroups getitimer getpeername getpgid getpgrp getpid
  getppid getpriority getrandom getresgid getresuid getrlimit get_robust_list getrusage getsid getsockname
  getsockopt get_thread_area gettid gettimeofday getuid getxattr inotify_add_watch inotify_init inotify_init1
  inotify_rm_watch io_cancel ioctl io_destroy io_getevents ioprio_get ioprio_set io_setup io_submit kill lchown
  lgetxattr link linkat listen listxattr llistxattr lremovexattr lseek lsetxattr lstat madvise memfd_create mincore
  mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mprotect mq_getsetattr mq_notify mq_open mq_timedreceive
  mq_timedsend mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall munmap nanosleep newfstatat
  open openat pause personality pipe pipe2 poll ppoll prctl pread64 preadv prlimit64 pselect6 pwrite64 pwritev read
  readahead readlink readlinkat readv recvfrom recvmmsg recvmsg remap_file_pages removexattr rename renameat
  renameat2 restart_syscall rmdir rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn
  rt_sigsuspend rt_sigtimedwait rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam
  sched_get_priority_max sched_get_priority_min sched_getscheduler sched_rr_get_interval sched_setaffinity
  sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop sendfile
  sendmmsg sendmsg sendto setfsgid setfsuid setgid setgroups setitimer setpgid setpriority setregid setresgid
  setresuid setreuid setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setxattr shmat
  shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 socket socketpair splice stat statfs symlink symlinkat
  sync sync_file_range syncfs sysinfo syslog tee tgkill time timer_create timer_delete timerfd_create timerfd_gettime
  timerfd_settime timer_getoverrun timer_gettime timer_settime times tkill truncate umask uname unlink unlinkat utime
  utimensat utimes vfork vmsplice wait4 waitid write writev arch_prctl modify_ldt chroot clone
  clone3 rseq statx faccessat2 close_range openat2 pidfd_open pidfd_send_signal pidfd_getfd epoll_pwait2 preadv2
  pwritev2 membarrier`
  .split(/\s+/)
  .filter((s) => s !== '');

/** rkt's default remove-set (`@rkt/default-blacklist`, Docker's of 2016). */
export const DEFAULT_SECCOMP_REMOVE: readonly string[] = `acct add_key adjtimex bpf clock_adjtime clock_settime
  create_module delete_module finit_module get_kernel_syms get_mempolicy init_module ioperm iopl kcmp kexec_file_load
  kexec_load keyctl lookup_dcookie mbind mount move_pages name_to_handle_at nfsservctl open_by_handle_at
  perf_event_open pivot_root process_vm_readv process_vm_writev ptrace query_module quotactl reboot request_key
  set_mempolicy setns settimeofday swapon swapoff sysfs _sysctl umount2 unshare uselib userfaultfd ustat`
  .split(/\s+/)
  .filter((s) => s !== '');

/** systemd's own syscall groups (systemd.exec SystemCallFilter=), reachable as rkt's `@systemd/NAME`. */
const SYSTEMD_GROUPS: ReadonlySet<string> = new Set([
  'aio', 'basic-io', 'chown', 'clock', 'cpu-emulation', 'debug', 'file-system', 'io-event', 'ipc', 'keyring',
  'memlock', 'module', 'mount', 'network-io', 'obsolete', 'pkey', 'privileged', 'process', 'raw-io', 'reboot',
  'resources', 'sandbox', 'setuid', 'signal', 'swap', 'sync', 'system-service', 'timer',
]);

/**
 * rkt's masked paths (protectKernelTunables): read-only in /proc and /sys, and hidden ones. rkt listed
 * /sys/block, bus, class, dev, devices and kernel read-only and hid firmware, fs, hypervisor, module and
 * power: every directory of /sys either way, so /sys as a whole is read-only here, the hidden ones on top
 * (a directory a kernel adds later is read-only too). Each path is a bind mount and a remount in the app's
 * exec child, each re-reading the mount table: five fewer took 7-8 ms off every pod (by hand, side by side).
 */
export const READ_ONLY_PATHS: readonly string[] = [
  '/proc/bus/', '/proc/sys/kernel/core_pattern', '/proc/sys/kernel/modprobe', '/proc/sys/vm/panic_on_oom', '/proc/sysrq-trigger', '/sys/',
];
export const INACCESSIBLE_PATHS: readonly string[] = [
  '/sys/firmware/', '/sys/fs/', '/sys/hypervisor/', '/sys/module/', '/sys/power/', '/proc/config.gz', '/proc/kallsyms',
  '/proc/sched_debug', '/proc/kcore', '/proc/kmem', '/proc/mem',
];

/** Isolators that need a cgroup controller the pod's systemd can write to. */
const RESOURCE_ISOLATORS: Readonly<Record<string, 'memory' | 'cpu'>> = {
  'resource/memory': 'memory',
  'resource/cpu': 'cpu',
  'os/linux/cpu-shares': 'cpu',
};

const SUFFIXES: Readonly<Record<string, number>> = {
  '': 1, n: 1e-9, u: 1e-6, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

/** A resource quantity of appc (Kubernetes' format: `500m`, `512M`, `1Gi`, `1.5`, `2e3`, a JSON number) in thousandths. */
export function quantityMilli(q: unknown): number | undefined {
  if (typeof q === 'number') return Number.isFinite(q) && q >= 0 ? q * 1000 : undefined;
  if (typeof q !== 'string') return undefined;
  const m = /^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:(m)|(Ki|Mi|Gi|Ti|Pi|Ei|[nukKMGTPE])|[eE]([+-]?[0-9]+))?$/.exec(q);
  if (m === null) return undefined;
  const n = Number(m[1]);
  if (m[2] !== undefined) return n;
  if (m[4] !== undefined) return n * 10 ** Number(m[4]) * 1000;
  return n * (SUFFIXES[m[3] ?? ''] as number) * 1000;
}

/** What the pod's stage1 can do for isolators: which cgroup controllers its systemd may write. */
export interface IsolationHost {
  readonly controllers: ReadonlySet<'memory' | 'cpu'>;
  /**
   * Whether a cgroup v2 hierarchy sits beside the v1 controllers (/sys/fs/cgroup/unified). A pod booted with
   * the hybrid layout tracks its units' processes there, where systemd learns at once that a cgroup emptied;
   * with the legacy layout alone it does not (a stop then waits for TimeoutStopSec= more than once).
   */
  readonly hybrid?: boolean;
  /** The host's capability bounding set: an app cannot be given more. */
  readonly boundingSet: ReadonlySet<string>;
  /** Why the controllers are missing, for the error message. */
  readonly controllersWhy?: string;
}

/** The unit directives of one app and what the pod's nspawn must allow for them. */
export interface AppIsolation {
  /** `[Service]` lines, but the one that depends on the app's user (`appDirectives` adds it). */
  readonly directives: string[];
  /** Capabilities the pod's nspawn must keep beyond its default set. */
  readonly nspawnCapabilities: string[];
  /** Whether the app runs under a seccomp allow-list (rkt's default, or a retain-set): every other syscall fails. */
  readonly allowListed: boolean;
  /** What a non-root app gets as ambient capabilities: an explicit retain-set's, else nothing. */
  readonly ambient: readonly string[];
}

function fail(app: string, what: string): never {
  throw new IsolatorError(`app ${app}: ${what}`);
}

function stringSet(app: string, iso: Isolator): string[] {
  const v = iso.value as { set?: unknown } | null;
  const set = v?.set;
  if (!Array.isArray(set) || set.length === 0 || !set.every((s) => typeof s === 'string' && s !== '')) {
    fail(app, `isolator ${iso.name}: value.set must be a non-empty array of names`);
  }
  return set as string[];
}

function capabilityNames(app: string, iso: Isolator): string[] {
  return stringSet(app, iso).map((c) => {
    const name = c.toUpperCase().startsWith('CAP_') ? c.toUpperCase() : `CAP_${c.toUpperCase()}`;
    if (!CAPABILITIES.includes(name)) fail(app, `isolator ${iso.name}: unknown capability ${JSON.stringify(c)}`);
    return name;
  });
}

/**
 * The syscalls of a seccomp set in systemd's terms, rkt's wildcards expanded: `@appc.io/all` (retain
 * everything: no filter) and `@appc.io/empty` (remove nothing: rkt's default filter), `@rkt/` and `@docker/`
 * `default-whitelist`/`default-blacklist`, `@systemd/GROUP`. A name that is none of these is an error.
 */
function seccompNames(app: string, iso: Isolator): string[] | 'all' | 'empty' {
  const out: string[] = [];
  for (const s of stringSet(app, iso)) {
    if (s === '@appc.io/all') return 'all';
    if (s === '@appc.io/empty') return 'empty';
    if (s === '@rkt/default-whitelist' || s === '@docker/default-whitelist') out.push(...DEFAULT_SECCOMP_RETAIN);
    else if (s === '@rkt/default-blacklist' || s === '@docker/default-blacklist') out.push(...DEFAULT_SECCOMP_REMOVE);
    else if (s.startsWith('@systemd/')) {
      const group = s.slice('@systemd/'.length);
      if (group === 'default-whitelist') out.push('@default');
      else if (SYSTEMD_GROUPS.has(group)) out.push(`@${group}`);
      else fail(app, `isolator ${iso.name}: unknown syscall group ${JSON.stringify(s)}`);
    } else if (SYSCALL_NAMES.has(s)) out.push(s);
    else fail(app, `isolator ${iso.name}: unknown syscall ${JSON.stringify(s)}`);
  }
  return [...new Set(out)];
}

/** systemd's SystemCallFilter= lines: several short lines, as rkt wrote them, which systemd joins. */
function filterLines(prefix: '' | '~', names: readonly string[]): string[] {
  const lines: string[] = [];
  for (let i = 0; i < names.length; i += 20) lines.push(`SystemCallFilter=${prefix}${names.slice(i, i + 20).join(' ')}`);
  return lines;
}

/** The last isolator of each name: a later one (the pod manifest's, a flag's) overrides an earlier one. */
function lastByName(isolators: readonly Isolator[]): Map<string, Isolator> {
  const byName = new Map<string, Isolator>();
  for (const iso of isolators) byName.set(iso.name, iso);
  return byName;
}

/**
 * An app's isolators checked (IsolatorError naming the app and the isolator), as `[Service]` directives and
 * what they need of the pod's nspawn: all of it but what depends on the app's user, which is resolved in its
 * root (`appDirectives`). The capability isolators bound the app, as rkt's did: a non-root app has no
 * effective capabilities, the defaults or a remove-set included. Only an explicit retain-set is also made
 * ambient for a non-root app (rkt-ts's extension: the user asked for exactly those).
 */
export function appIsolation(app: string, isolators: readonly Isolator[], insecure: InsecureIsolation, host: IsolationHost): AppIsolation {
  const byName = lastByName(isolators);
  const directives: string[] = [];
  const nspawnCapabilities: string[] = [];
  for (const name of byName.keys()) {
    if (!KNOWN.has(name)) fail(app, `isolator ${name} is not supported by this stage1 (it cannot enforce it)`);
    const controller = RESOURCE_ISOLATORS[name];
    if (controller !== undefined && !host.controllers.has(controller)) {
      fail(app, `isolator ${name} needs the ${controller} cgroup controller, which the pod cannot use here${host.controllersWhy ? ` (${host.controllersWhy})` : ''}`);
    }
  }

  const memory = byName.get('resource/memory');
  if (memory !== undefined) {
    const limit = (memory.value as { limit?: unknown } | null)?.limit;
    const milli = quantityMilli(limit);
    if (milli === undefined || milli < 1000) fail(app, `isolator resource/memory: limit ${JSON.stringify(limit)} is not a memory size such as "512M"`);
    directives.push(`MemoryLimit=${Math.floor(milli / 1000)}`);
  }
  const cpu = byName.get('resource/cpu');
  if (cpu !== undefined) {
    const limit = (cpu.value as { limit?: unknown } | null)?.limit;
    const milli = quantityMilli(limit);
    // systemd's CPUQuota= counts in percent of one CPU: 10 millicores is its smallest step, 1%.
    if (milli === undefined || milli < 10) fail(app, `isolator resource/cpu: limit ${JSON.stringify(limit)} is not a CPU amount of at least 10m`);
    directives.push(`CPUQuota=${Math.floor(milli / 10)}%`);
  }
  const shares = byName.get('os/linux/cpu-shares');
  if (shares !== undefined) {
    const v = shares.value;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 2 || v > 262144) fail(app, `isolator os/linux/cpu-shares: ${JSON.stringify(v)} is not an integer from 2 to 262144`);
    directives.push(`CPUShares=${v}`);
  }
  const oom = byName.get('os/linux/oom-score-adj');
  if (oom !== undefined) {
    const v = oom.value;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < -1000 || v > 1000) fail(app, `isolator os/linux/oom-score-adj: ${JSON.stringify(v)} is not an integer from -1000 to 1000`);
    if (v < 0) {
      // The kernel lowers a score only for CAP_SYS_RESOURCE, which the pod's systemd (PID 1, setting
      // OOMScoreAdjust= in the app's exec child) must have: without it systemd logs and goes on, the app at 0.
      if (!host.boundingSet.has('CAP_SYS_RESOURCE')) fail(app, `isolator os/linux/oom-score-adj: ${v} needs CAP_SYS_RESOURCE, which the host's bounding set does not have`);
      nspawnCapabilities.push('CAP_SYS_RESOURCE');
    }
    directives.push(`OOMScoreAdjust=${v}`);
  }

  // Capabilities: the retain-set as it is, the default set minus the remove-set, else the default set.
  const retain = byName.get('os/linux/capabilities-retain-set');
  const remove = byName.get('os/linux/capabilities-remove-set');
  if (retain !== undefined && remove !== undefined) fail(app, 'isolators os/linux/capabilities-retain-set and -remove-set cannot be used together');
  let caps: string[] | undefined;
  if (retain !== undefined) caps = [...new Set(capabilityNames(app, retain))];
  else if (remove !== undefined) {
    const removed = new Set(capabilityNames(app, remove));
    caps = DEFAULT_CAPABILITIES.filter((c) => !removed.has(c));
  } else if (!insecure.capabilities) caps = [...DEFAULT_CAPABILITIES];
  if (caps !== undefined) {
    for (const c of caps) {
      if (!host.boundingSet.has(c)) fail(app, `capability ${c} cannot be given: the host's bounding set does not have it`);
      if (!NSPAWN_CAPABILITIES.has(c)) nspawnCapabilities.push(c);
    }
    // An empty set is written as "CapabilityBoundingSet=" with nothing after it: no capabilities at all.
    directives.push(`CapabilityBoundingSet=${caps.join(' ')}`);
  }

  const nnp = byName.get('os/linux/no-new-privileges');
  if (nnp !== undefined) {
    if (typeof nnp.value !== 'boolean') fail(app, `isolator os/linux/no-new-privileges: ${JSON.stringify(nnp.value)} is not true or false`);
    if (nnp.value) directives.push('NoNewPrivileges=yes');
  }

  const sRetain = byName.get('os/linux/seccomp-retain-set');
  const sRemove = byName.get('os/linux/seccomp-remove-set');
  if (sRetain !== undefined && sRemove !== undefined) fail(app, 'isolators os/linux/seccomp-retain-set and -remove-set cannot be used together');
  const seccomp = sRetain ?? sRemove;
  let filter: { mode: '' | '~'; names: readonly string[]; errno?: string } | undefined;
  if (seccomp !== undefined) {
    const names = seccompNames(app, seccomp);
    const errno = (seccomp.value as { errno?: unknown }).errno;
    if (errno !== undefined && (typeof errno !== 'string' || !/^(?:E[A-Z0-9]+)?$/.test(errno))) fail(app, `isolator ${seccomp.name}: errno ${JSON.stringify(errno)} is not an errno name such as "EPERM"`);
    if (errno !== undefined && errno !== '' && !ERRNO_NAMES.has(errno)) fail(app, `isolator ${seccomp.name}: unknown errno ${JSON.stringify(errno)}`);
    const e = typeof errno === 'string' && errno !== '' ? { errno } : {};
    if (names === 'all') filter = undefined;
    else if (names === 'empty') filter = { mode: '', names: DEFAULT_SECCOMP_RETAIN, ...e };
    else filter = { mode: seccomp === sRetain ? '' : '~', names, ...e };
  } else if (!insecure.seccomp) filter = { mode: '', names: DEFAULT_SECCOMP_RETAIN };
  if (filter !== undefined) {
    if (filter.errno !== undefined) directives.push(`SystemCallErrorNumber=${filter.errno}`);
    directives.push(...filterLines(filter.mode, filter.names));
  }

  if (!insecure.paths) {
    // "-": a path this kernel does not have is no error; "+": the path is inside the app's RootDirectory=, not the pod's.
    directives.push(`ReadOnlyPaths=${READ_ONLY_PATHS.map((p) => `-+${p}`).join(' ')}`);
    directives.push(`InaccessiblePaths=${INACCESSIBLE_PATHS.map((p) => `-+${p}`).join(' ')}`);
  }
  // Ambient capabilities are effective for a non-root process: rkt's 14 defaults there let a uid-1000 app read
  // root-only files of a host volume, chown and setuid. Only what a retain-set names becomes ambient.
  const ambient = retain !== undefined && caps !== undefined ? caps : [];
  return { directives, nspawnCapabilities, allowListed: filter !== undefined && filter.mode === '', ambient };
}

/** The app's `[Service]` directives once its user is known: a non-root one gets its ambient capabilities too. */
export function appDirectives(iso: AppIsolation, uid: number): string[] {
  return uid !== 0 && iso.ambient.length > 0 ? [...iso.directives, `AmbientCapabilities=${iso.ambient.join(' ')}`] : iso.directives;
}

/** The controllers a set of isolators needs from the pod's cgroups. */
export function neededControllers(isolators: readonly Isolator[]): Set<'memory' | 'cpu'> {
  const out = new Set<'memory' | 'cpu'>();
  for (const iso of isolators) {
    const c = RESOURCE_ISOLATORS[iso.name];
    if (c !== undefined) out.add(c);
  }
  return out;
}

const KNOWN: ReadonlySet<string> = new Set([
  'resource/memory',
  'resource/cpu',
  'os/linux/cpu-shares',
  'os/linux/oom-score-adj',
  'os/linux/capabilities-retain-set',
  'os/linux/capabilities-remove-set',
  'os/linux/no-new-privileges',
  'os/linux/seccomp-retain-set',
  'os/linux/seccomp-remove-set',
]);

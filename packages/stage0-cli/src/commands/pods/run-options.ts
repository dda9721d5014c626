import type { PreparedPod, RunOptions } from '@rkt/controller/lean';
import type { CommandContext } from '../../command.js';
import { requireStage1Module } from '../../command-bundle.js';
import { CliError } from '../../errors.js';
import { outputQueued } from '../../output/fd-sink.js';
import { cliBus, cliEventsConfig } from './common.js';
import { hostnameFlag } from './hostname.js';
import { checkNetFlag } from './net.js';
import { dnsFlags } from './dns-flags.js';

/**
 * What `rkt run` and `rkt run-prepared` hand to `runPod` from their flags, checked when called: call it
 * before anything is prepared or run, so that a bad value leaves nothing behind.
 */
export function runOptionsFromFlags(ctx: CommandContext): Omit<RunOptions, 'dataDir' | 'uuid' | 'lockFd'> {
  const hostname = hostnameFlag(ctx);
  const net = checkNetFlag(ctx);
  // rkt's refusal: the service listens on the host, which a pod with a loopback of its own cannot reach.
  if (net === 'none' && ctx.flags.has('mds-register') && ctx.flags.bool('mds-register')) {
    throw new CliError('CLI_BAD_ARGS', '--mds-register does not work with --net=none: the pod\'s apps could not reach the metadata service on the host (use --net=host)');
  }
  const dns = dnsFlags(ctx);
  return {
    // `rkt app sandbox` has neither.
    interactive: ctx.flags.has('interactive') && ctx.flags.bool('interactive'),
    ...(net !== 'host' ? { net } : {}),
    ...(hostname !== undefined ? { hostname } : {}),
    ...(dns !== undefined ? { dns } : {}),
    debug: ctx.globals.debug,
    localConfigDir: ctx.globals.localConfigDir,
    insecure: {
      capabilities: ctx.globals.insecureOptions.skipCapabilities,
      paths: ctx.globals.insecureOptions.skipPaths,
      seccomp: ctx.globals.insecureOptions.skipSeccomp,
    },
    bus: cliBus(ctx),
    log: (m) => ctx.log.debug(m),
    warn: (m) => ctx.log.warn(m),
    forwardSignals: true,
    // Without --debug or an event bus nobody subscribes to the pod's events, and this process can become the
    // stage1's run executable (rkt's exec), instead of staying beside it for the pod's life: its 'exit'
    // listeners (the code caches' writers) run first, as they would at its exit.
    ...(ctx.globals.debug || profiled() || cliEventsConfig(ctx) !== undefined
      ? {}
      : {
          exec: {
            beforeExec: () => {
              // Output a sink could not write at once would be lost: this process then stays to write it.
              if (outputQueued()) return false;
              process.emit('exit', typeof process.exitCode === 'number' ? process.exitCode : 0);
              return true;
            },
          },
        }),
    // The systemd stage1's run module, 40 KB that every pod loads: compiled once, then from V8's code cache.
    requireModule: requireStage1Module,
  };
}

/**
 * Whether V8's sampling profiler runs in this process (`node --cpu-prof` or `--prof`; Node 20 refuses both in
 * NODE_OPTIONS). It interrupts the main thread with SIGPROF, and one sent just before an exec is delivered
 * after it, where its default action kills the stage1: a profiled stage0 stays beside the stage1.
 */
function profiled(): boolean {
  return process.execArgv.some((a) => a.startsWith('--cpu-prof') || a.startsWith('--prof'));
}

/** What `runPod` takes of a pod `preparePod({keepLock})` just prepared: its UUID, its lock and what it left pending. */
export function preparedPodRunOptions(pod: PreparedPod): Pick<RunOptions, 'uuid' | 'lockFd' | 'pending'> {
  return { uuid: pod.uuid, ...(pod.lockFd !== undefined ? { lockFd: pod.lockFd } : {}), ...(pod.pending !== undefined ? { pending: pod.pending } : {}) };
}

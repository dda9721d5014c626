/**
 * The stage1 side of the stage0/stage1 contract, shared by the stage1 images' entrypoints (fly,
 * systemd): argument parsing, the pod's pid files, stop and enter. Only Node built-ins here, since
 * every entrypoint bundles what it imports into the stage1 image.
 */
export { entrypointFailure, parseEntrypointArgs } from './args.js';
export type { EntrypointArgs } from './args.js';
export { childrenOf, readPodPids } from './pod-pids.js';
export type { PodPids } from './pod-pids.js';
export { stopPodProcesses } from './stop.js';
export { enterProcess, processEnvironment } from './enter.js';
export { waitForeground } from './foreground.js';
export { DNS_CONF_FILES, formatDnsConfMode, HOSTS_MODES, parseDnsConfMode, RESOLV_CONF_MODES } from './dns-conf-mode.js';
export type { DnsConfMode, HostsMode, ResolvConfMode } from './dns-conf-mode.js';
export { SYSCALL_NAMES } from '../syscall-names.js';
export { ERRNO_NAMES } from '../errno-names.js';
export { APP_STREAM_ANNOTATIONS, APP_STREAM_MODES, APP_STREAM_NAMES, appStreamModes, attachModeArgs, DEFAULT_APP_STREAM_MODES, isDefaultStreamModes } from './app-streams.js';
export type { AppStreamMode, AppStreamModes, AppStreamName, AttachEndpoint, AttachEndpointName, AttachTargets } from './app-streams.js';

/**
 * `@rkt/controller/lean`: what `rkt run`, `prepare` and `run-prepared` need, without zod (whose load
 * time alone is most of a Node start). The main entry adds `podEventSchema` and the rest of the API.
 */
export { PodError } from './errors.js';
export type { PodErrorCode } from './errors.js';
export { POD_FILES, POD_FORMAT_VERSION, podPath } from './layout.js';
export { createInProcessBus, podEvent, podEventProblem, POD_TOPICS } from './events.js';
export type { EventBus, PodEvent, PodEventHandler, PodTopic } from './events.js';
export { findPod } from './pods.js';
export { preparePod } from './prepare.js';
export { checkVolumes } from './volumes.js';
export { portWithoutCniNetProblem } from './ports-net.js';
export type { PrepareAppInput, PrepareOptions, PreparedPod } from './prepare.js';
export { runPod } from './run.js';
export { dnsNameProblem, hostsText, isIpAddress, podDnsConfProblem, resolvConfText, resolvOptionProblem } from './dns-conf.js';
export type { HostsConf, PodDnsConf, ResolvConf } from './dns-conf.js';
export type { RunOptions } from './run.js';
export { SYSCALL_NAMES } from './syscall-names.js';
export { ERRNO_NAMES } from './errno-names.js';
export { NameSet } from './name-set.js';
export { checkSubjectPrefix, DEFAULT_NATS_TIMEOUT_MS, DEFAULT_SUBJECT_PREFIX, eventSubject, subscriptionSubject } from './nats-subjects.js';

export { PodError } from './errors.js';
export type { PodErrorCode } from './errors.js';
export { POD_FILES, POD_FORMAT_VERSION, STATE_DIRS, REFERENCING_STATE_DIRS, podPath, referencingPodDirs } from './layout.js';
export type { StateDir } from './layout.js';
export { readPodInfo } from './info.js';
export type { PodInfo, PodAppInfo, PrivateUsers } from './info.js';
export { createInProcessBus, podEvent, podEventProblem, POD_TOPICS } from './events.js';
export { podEventSchema } from './event-schema.js';
export { checkSubjectPrefix, DEFAULT_NATS_TIMEOUT_MS, DEFAULT_SUBJECT_PREFIX, eventSubject, subscriptionSubject } from './nats-subjects.js';
export type { EventBus, PodEvent, PodEventHandler, PodTopic } from './events.js';
export { isLocked, tryLockDir, unlock, waitUnlocked } from './lock.js';
export { findPod, listPods, podDetails, podSummary, stateOf } from './pods.js';
export type { PodApp, PodDetails, PodSnapshot, PodState, PodSummary } from './pods.js';
export {
  checkStage1Manifest,
  checkStage1Mutable,
  DNS_CONF_MODE_INTERFACE_VERSION,
  MUTABLE_INTERFACE_VERSION,
  MUTABLE_POD_ANNOTATION,
  stage1AppEntrypoints,
  stage1Entrypoint,
  stage1GcEntrypoints,
  stage1RunEntrypoints,
  stage1StopEntrypoints,
  STAGE1_ANNOTATIONS,
  SUPPORTED_APP_MODULE_VERSIONS,
  SUPPORTED_GC_MODULE_VERSIONS,
  SUPPORTED_INTERFACE_VERSIONS,
  SUPPORTED_NET_NONE_VERSIONS,
  SUPPORTED_CNI_NETWORKS_VERSIONS,
  SUPPORTED_PRIVATE_USERS_VERSIONS,
  RUN_EXEC_ENV,
  SUPPORTED_RUN_EXEC_VERSIONS,
  SUPPORTED_RUN_MODULE_VERSIONS,
  SUPPORTED_STOP_MODULE_VERSIONS,
} from './stage1.js';
export type {
  Stage1AppCheckContext,
  Stage1AppEntrypoint,
  Stage1AppModule,
  Stage1AppModuleRef,
  Stage1Entrypoint,
  Stage1GcContext,
  Stage1GcModule,
  Stage1GcModuleRef,
  Stage1RunContext,
  Stage1RunModule,
  Stage1RunModuleRef,
  Stage1SpawnedProcess,
  Stage1SpawnOptions,
  Stage1StopModule,
  Stage1StopModuleRef,
} from './stage1.js';
export { defaultAppName, effectiveApp, preparePod } from './prepare.js';
export type { PrepareAppInput, PrepareOptions, PreparedPod } from './prepare.js';
export { runPod } from './run.js';
export type { RunOptions } from './run.js';
export { dnsNameProblem, hostsText, isIpAddress, podDnsConfProblem, resolvConfText, resolvOptionProblem } from './dns-conf.js';
export type { HostsConf, PodDnsConf, ResolvConf } from './dns-conf.js';
export { gcPods, DEFAULT_GC_GRACE_MS, DEFAULT_PREPARED_EXPIRY_MS } from './gc.js';
export type { GcOptions, GcResult } from './gc.js';
export { removePod } from './remove.js';
export type { RemoveContext } from './remove.js';
export { stopPod, type StopOutcome } from './stop.js';
export { enterPod } from './enter.js';
export { attachPod } from './attach.js';
export type { AttachOptions } from './attach.js';
export type { EnterOptions } from './enter.js';
export type { DeleteContext } from './delete.js';
export { appMounts, checkVolumes, implicitVolumes } from './volumes.js';
export type { AppMount, AppVolumeInput } from './volumes.js';
export { openExitedAppRootfs } from './exited-app-rootfs.js';
export type { ExitedAppRootfs, ExitedAppRootfsOptions } from './exited-app-rootfs.js';
export { addApp, isMutableManifest, listApps, removeApp, startApp, stopApp } from './app.js';
export type { AddAppOptions, AppPodOptions, AppState } from './app.js';

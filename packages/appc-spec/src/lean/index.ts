/**
 * `@rkt/appc-spec/lean`: readers for documents that were validated already, without loading zod
 * (which costs more start-up time than the rest of `rkt run`). An image manifest in the store was
 * validated in full when its ACI was imported, and a pod's copies of manifests were written from
 * validated ones; reading them again needs their shape checked, not every rule of the spec. Input
 * from a user (a `--pod-manifest`, an override) still goes through the zod schemas of the main entry.
 * The rules both share (AC Name, annotation lookup) live in zod-free modules that the schemas import.
 */
export { isAcName, AC_NAME_RE } from '../types/ac-name-rule.js';
export { isEnvironmentVariableName } from '../types/environment-rule.js';
export { isAcIdentifier, AC_IDENTIFIER_RE } from '../types/ac-identifier-rule.js';
export { getAnnotation } from '../types/annotation-lookup.js';
export { EMPTY_VOLUME_DEFAULTS } from '../types/volume-defaults.js';
export { readValidatedImageManifest } from './validated-manifest.js';
export { appOverridesValid, runtimeAppOverridesValid } from './app-overrides.js';
export { appIsolatorsValid } from './isolator-overrides.js';
export { mountsValid, volumesValid } from './volume-overrides.js';
export { AppcError, ValidationError } from '../errors.js';
// Zod-free too, for the packages above that name files after their writer (the store's temp entries).
export { removeDeadWriterTemps, writerTempPath, type DeadWriterTempOptions } from '../aci/writer-temp.js';
export { pidRuns, processStartTime } from '../process-start.js';
export type { ImageManifest } from '../manifest/image-manifest.js';
export type { Mount, PodManifest, RuntimeApp } from '../manifest/pod-manifest.js';
export type { MountPoint } from '../types/mount-point.js';
export type { Volume } from '../types/volume.js';
export type { App } from '../types/app.js';
export type { EnvironmentVariable } from '../types/environment.js';

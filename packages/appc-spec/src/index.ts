export { AppcError, ValidationError } from './errors.js';
export type { AppcErrorCode, ValidationIssue } from './errors.js';

// Schemas and types (appc v0.8.11 types.md, aci.md, pods.md, ace.md isolators).
export { acIdentifierSchema, isAcIdentifier } from './types/ac-identifier.js';
export type { AcIdentifier } from './types/ac-identifier.js';
export { acNameSchema, isAcName } from './types/ac-name.js';
export type { AcName } from './types/ac-name.js';
export { AC_KINDS, acKindSchema, isAcKind } from './types/ac-kind.js';
export type { AcKind } from './types/ac-kind.js';
export { APPC_SPEC_VERSION, acVersionSchema, compareSemVer, isAcVersion, parseSemVer } from './types/ac-version.js';
export type { AcVersion, SemVer } from './types/ac-version.js';
export { imageIdFromHex, imageIdSchema, isImageId } from './types/image-id.js';
export type { ImageId } from './types/image-id.js';
export { getLabel, labelSchema, labelsSchema, VALID_OS_ARCH } from './types/labels.js';
export type { Label, Labels } from './types/labels.js';
export { annotationSchema, annotationsSchema, getAnnotation } from './types/annotations.js';
export type { Annotation, Annotations } from './types/annotations.js';
export { isTimestamp, timestampSchema } from './types/timestamp.js';
export type { Timestamp } from './types/timestamp.js';
export { isUuid, uuidSchema } from './types/uuid.js';
export type { Uuid } from './types/uuid.js';
export { execSchema } from './types/exec.js';
export type { Exec } from './types/exec.js';
export {
  environmentSchema,
  environmentVariableSchema,
  getEnvironmentVariable,
  isEnvironmentVariableName,
} from './types/environment.js';
export type { Environment, EnvironmentVariable } from './types/environment.js';
export { EVENT_HANDLER_NAMES, eventHandlerSchema, eventHandlersSchema } from './types/event-handler.js';
export type { EventHandler, EventHandlers } from './types/event-handler.js';
export { mountPointSchema } from './types/mount-point.js';
export type { MountPoint } from './types/mount-point.js';
export { exposedPortSchema, portSchema } from './types/port.js';
export type { ExposedPort, Port } from './types/port.js';
export { dependenciesSchema, dependencySchema } from './types/dependency.js';
export type { Dependencies, Dependency } from './types/dependency.js';
export {
  isResourceQuantity,
  parseResourceQuantity,
  resourceQuantitySchema,
  tryParseResourceQuantity,
} from './types/resource-quantity.js';
export type { ParsedQuantity, ResourceQuantity } from './types/resource-quantity.js';
export {
  appIsolatorsSchema,
  getIsolatorValue,
  isKnownIsolator,
  isKnownIsolatorName,
  isolatorSchema,
  KNOWN_ISOLATOR_NAMES,
  podIsolatorsSchema,
} from './types/isolator.js';
export type {
  Isolator,
  Isolators,
  IsolatorScope,
  IsolatorValueByName,
  KnownIsolator,
  KnownIsolatorName,
  UnknownIsolator,
} from './types/isolator.js';
export { EMPTY_VOLUME_DEFAULTS, volumeSchema } from './types/volume.js';
export type { EmptyVolume, HostVolume, Volume } from './types/volume.js';
export { stringMapSchema } from './types/common.js';
export type { StringMap } from './types/common.js';
export { appSchema } from './types/app.js';
export type { App } from './types/app.js';
export {
  imageManifestSchema,
  parseImageManifest,
  serializeImageManifest,
  validateImageManifest,
} from './manifest/image-manifest.js';
export type { ImageManifest } from './manifest/image-manifest.js';
export {
  mountSchema,
  isReifiedPodManifest,
  parsePodManifest,
  podManifestSchema,
  runtimeAppSchema,
  runtimeImageSchema,
  serializePodManifest,
  validatePodManifest,
} from './manifest/pod-manifest.js';
export type { Mount, PodManifest, RuntimeApp, RuntimeImage } from './manifest/pod-manifest.js';
export { formatJsonPath } from './manifest/issues.js';

// ACI reading and writing (aci.md "Image Archives", "Image ID").
export { detectCompression } from './aci/compression.js';
export type { Compression } from './aci/compression.js';
export { scanAci } from './aci/scan.js';
export type { AciScan, AciScanOptions } from './aci/scan.js';
export type { FileDigest } from './aci/file-digests.js';
export { buildAciFromLayout, buildAciFromRootfs, checkLayout } from './aci/build-layout.js';
export { buildAci } from './aci/build-list.js';
export type { AciBuildOptions, AciBuildResult } from './aci/write-aci.js';
export { aciEntrySchema } from './aci/entries.js';
// Temp files named after their writer, beside a file written whole (the ACI writers', `rkt image export`'s).
export { removeDeadWriterTemps, writerTempPath, type DeadWriterTempOptions } from './aci/writer-temp.js';
// Temp + fsync + rename (or link) of a file written whole, for writers of other archives (the Docker converter).
export { writeFileAtomically } from './aci/atomic-file.js';
export { processStartTime } from './process-start.js';
// The tar layer, for readers that go beyond a scan (an image store re-reading its blobs to render them).
export { TarReader } from './aci/tar-reader.js';
export type { TarEntry, TarVisitor } from './aci/tar-reader.js';
export type { EntryType } from './aci/tar-header.js';
export { LayoutRules, normalizeEntryName } from './aci/layout-rules.js';
export type { LayoutEntry } from './aci/layout-rules.js';
export { encodeHeader, padding as tarPadding, END_OF_ARCHIVE } from './aci/tar-writer.js';
export type { TarHeader } from './aci/tar-writer.js';
export type { AciEntry } from './aci/entries.js';

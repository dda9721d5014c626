// The v1alpha messages as this service builds and reads them (api.proto; proto-loader with keepCase, enums
// as names, 64-bit integers as decimal strings, defaults filled in). Plain interfaces, not zod: protobuf
// decoding has already checked every request's shape and types against the .proto.

export interface KeyValue {
  readonly Key: string;
  readonly value: string;
}

export type PodStateName =
  | 'POD_STATE_UNDEFINED'
  | 'POD_STATE_EMBRYO'
  | 'POD_STATE_PREPARING'
  | 'POD_STATE_PREPARED'
  | 'POD_STATE_RUNNING'
  | 'POD_STATE_ABORTED_PREPARE'
  | 'POD_STATE_EXITED'
  | 'POD_STATE_DELETING'
  | 'POD_STATE_GARBAGE';

export type AppStateName = 'APP_STATE_UNDEFINED' | 'APP_STATE_RUNNING' | 'APP_STATE_EXITED';

export interface ApiImageFormat {
  readonly type: 'IMAGE_TYPE_APPC';
  readonly version: string;
}

export interface ApiImage {
  readonly base_format: ApiImageFormat;
  readonly id: string;
  readonly name?: string;
  readonly version?: string;
  /** Seconds since the epoch, as a decimal string (int64). */
  readonly import_timestamp?: string;
  readonly manifest?: Buffer;
  readonly size?: string;
  readonly annotations?: readonly KeyValue[];
  readonly labels?: readonly KeyValue[];
}

export interface ApiApp {
  readonly name: string;
  readonly image: ApiImage;
  readonly state?: AppStateName;
  readonly exit_code?: number;
  readonly annotations: readonly KeyValue[];
}

export interface ApiNetwork {
  readonly name: string;
  readonly ipv4: string;
  readonly ipv6: string;
}

export interface ApiPod {
  readonly id: string;
  readonly pid: number;
  readonly state: PodStateName;
  readonly apps: readonly ApiApp[];
  readonly networks: readonly ApiNetwork[];
  readonly manifest?: Buffer;
  readonly annotations: readonly KeyValue[];
  readonly cgroup: string;
  /** Nanoseconds since the epoch, as decimal strings (int64); '0' when not known. */
  readonly created_at: string;
  readonly started_at: string;
  readonly gc_marked_at: string;
}

/** A PodFilter as decoded (every field present: proto-loader's `defaults`). */
export interface PodFilter {
  readonly ids: readonly string[];
  /** Names, or the number of a value this .proto does not know. */
  readonly states: readonly (PodStateName | number)[];
  readonly app_names: readonly string[];
  readonly image_ids: readonly string[];
  readonly network_names: readonly string[];
  readonly annotations: readonly KeyValue[];
  readonly cgroups: readonly string[];
  readonly pod_sub_cgroups: readonly string[];
}

/** An ImageFilter as decoded. */
export interface ImageFilter {
  readonly ids: readonly string[];
  readonly prefixes: readonly string[];
  readonly base_names: readonly string[];
  readonly keywords: readonly string[];
  readonly labels: readonly KeyValue[];
  /** Seconds since the epoch, decimal; '0' when not set. */
  readonly imported_after: string;
  readonly imported_before: string;
  readonly annotations: readonly KeyValue[];
  readonly full_names: readonly string[];
}

export interface GlobalFlags {
  readonly dir: string;
  readonly system_config_dir: string;
  readonly local_config_dir: string;
  readonly user_config_dir: string;
  readonly insecure_flags: string;
  readonly trust_keys_from_https: boolean;
}

export interface Info {
  readonly rkt_version: string;
  readonly appc_version: string;
  readonly api_version: string;
  readonly global_flags: GlobalFlags;
}

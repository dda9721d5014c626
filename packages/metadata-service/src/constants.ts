/** rkt's registration socket: stage0 registers pods there (only root may connect). */
export const DEFAULT_MDS_SOCKET = '/run/rkt/metadata-svc.sock';

/** rkt's TCP port for the apps' requests. */
export const DEFAULT_MDS_PORT = 18112;

/** The spec's path below `AC_METADATA_URL`. */
export const METADATA_PATH_BASE = '/acMetadata/v1';

// Zod-free, so that the lean entry (`@rkt/appc-spec/lean`) shares it with the schemas.

/** The defaults pods.md gives for an empty volume. */
export const EMPTY_VOLUME_DEFAULTS = { mode: '0755', uid: 0, gid: 0 } as const;

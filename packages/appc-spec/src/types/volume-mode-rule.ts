// An empty volume's mode without zod: shared by `volumeSchema` and the lean volume check.
export const VOLUME_MODE_RE = /^0?[0-7]{3,4}$/;

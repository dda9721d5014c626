/** One downloaded layer blob of a Docker / OCI image. */
export interface DockerLayerFile {
  /** The layer on disk: a gzip'd or a plain tar (the registry client writes plain tars, inflated as they download). */
  readonly path: string;
  /**
   * The media type of the file as it is on disk: `...tar.gzip`, `...tar+gzip`, `...tar`, `...tar+zstd` (refused).
   * The converter still tells gzip by the first bytes; a plain tar's contents are skipped by position, a gzip'd
   * one is inflated once per pass.
   */
  readonly mediaType: string;
  /** `sha256:...`: named in errors. */
  readonly digest: string;
}

/** A Docker / OCI image as the registry client fetched it, for `dockerToAci`. */
export interface DockerImageSource {
  /** host[:port], e.g. registry-1.docker.io or 127.0.0.1:5000. */
  readonly registry: string;
  /** e.g. library/busybox. */
  readonly repository: string;
  /** e.g. latest; the image's `version` label (none for an image asked for by digest, as docker2aci did). */
  readonly tag?: string;
  /** When the image was asked for by digest. */
  readonly digest?: string;
  /** sha256:... of the image manifest: the `appc.io/docker/manifesthash` annotation. */
  readonly manifestDigest: string;
  readonly configDigest: string;
  /** The image config JSON (OCI / Docker image config). */
  readonly config: Record<string, unknown>;
  /** Bottom first. */
  readonly layers: readonly DockerLayerFile[];
  /** The image string as the user gave it, without `docker://` (docker2aci's `appc.io/docker/originalname`). */
  readonly originalName?: string;
}

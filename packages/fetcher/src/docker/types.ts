/** One downloaded layer blob of a Docker / OCI image. */
export interface DockerLayerFile {
  /** The blob on disk, as the registry served it (compressed or not). */
  readonly path: string;
  /** The manifest's media type for it: `...tar.gzip`, `...tar+gzip`, `...tar`, `...tar+zstd` (refused). */
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

import { describe, expect, it } from 'vitest';
import { FetchError, parseDockerRef } from '../src/index.js';

const HEX = 'a'.repeat(64);

describe('parseDockerRef', () => {
  it.each([
    ['docker://busybox', { registry: 'registry-1.docker.io', repository: 'library/busybox', tag: 'latest' }],
    ['docker://busybox:1.36', { registry: 'registry-1.docker.io', repository: 'library/busybox', tag: '1.36' }],
    ['docker://library/busybox', { registry: 'registry-1.docker.io', repository: 'library/busybox', tag: 'latest' }],
    ['docker://coreos/etcd:v3.5', { registry: 'registry-1.docker.io', repository: 'coreos/etcd', tag: 'v3.5' }],
    ['docker://docker.io/nginx', { registry: 'registry-1.docker.io', repository: 'library/nginx', tag: 'latest' }],
    ['docker://index.docker.io/nginx:1', { registry: 'registry-1.docker.io', repository: 'library/nginx', tag: '1' }],
    ['docker://quay.io/coreos/etcd:v3.5.0', { registry: 'quay.io', repository: 'coreos/etcd', tag: 'v3.5.0' }],
    ['docker://localhost/app', { registry: 'localhost', repository: 'app', tag: 'latest' }],
    ['docker://localhost:5000/a/b/c:t', { registry: 'localhost:5000', repository: 'a/b/c', tag: 't' }],
    ['docker://127.0.0.1:5000/nope:latest', { registry: '127.0.0.1:5000', repository: 'nope', tag: 'latest' }],
    ['docker://registry.example.com/my_app-x.y__z', { registry: 'registry.example.com', repository: 'my_app-x.y__z', tag: 'latest' }],
    [`docker://busybox@sha256:${HEX}`, { registry: 'registry-1.docker.io', repository: 'library/busybox', digest: `sha256:${HEX}` }],
    [`docker://ghcr.io/o/r:v1@sha256:${HEX}`, { registry: 'ghcr.io', repository: 'o/r', tag: 'v1', digest: `sha256:${HEX}` }],
    // Without the scheme, as the converter may be handed it.
    ['busybox', { registry: 'registry-1.docker.io', repository: 'library/busybox', tag: 'latest' }],
  ])('%s', (raw, want) => {
    const ref = parseDockerRef(raw);
    expect(ref).toEqual({ raw, ...want });
  });

  it.each([
    ['docker://', 'no repository name'],
    ['docker://Busybox', 'repository name "Busybox" must be lowercase'],
    ['docker://quay.io/CoreOS/etcd', 'repository name "CoreOS/etcd" must be lowercase'],
    ['docker://bad..name', 'invalid repository path component "bad..name"'],
    ['docker://a//b', 'empty path component in "a//b"'],
    ['docker://quay.io/', 'no repository name'],
    ['docker://busybox:', 'invalid tag ""'],
    ['docker://busybox:.hidden', 'invalid tag ".hidden"'],
    [`docker://busybox:${'t'.repeat(129)}`, `invalid tag "${'t'.repeat(129)}"`],
    ['docker://busybox@sha256:abc', 'digest "sha256:abc" is not sha256: followed by 64 lowercase hex digits'],
    [`docker://busybox@md5:${HEX}`, `unsupported digest "md5:${HEX}" (only sha256:HEX)`],
    ['docker://bad_host.io:99999x/app', 'invalid registry host "bad_host.io:99999x"'],
    [`docker://${'a'.repeat(256)}`, 'repository name longer than 255 characters'],
  ])('%s is refused: %s', (raw, why) => {
    let err: unknown;
    try {
      parseDockerRef(raw);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FetchError);
    expect(err).toMatchObject({ code: 'FETCH_BAD_IMAGE_STRING', subject: raw });
    expect((err as Error).message).toBe(`${raw}: invalid docker image reference: ${why}${why.startsWith('invalid tag') ? ' (up to 128 letters, digits, _, . and -, not starting with . or -)' : why.startsWith('invalid repository path') ? ' (lowercase letters and digits, separated by ., _, __ or -)' : ''}`);
    expect((err as Error).message).not.toContain('\n');
  });
});

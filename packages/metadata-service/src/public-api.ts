import type { IncomingMessage, ServerResponse } from 'node:http';
import { METADATA_PATH_BASE } from './constants.js';
import { ASCII_TYPE, HttpFailure, JSON_TYPE, methodNotAllowed, readBody, send, sendFailure } from './http-util.js';
import type { PodSigner } from './hmac.js';
import type { PodTable, RegisteredPod } from './pod-table.js';
import { podUuidSchema } from './registration.js';

type Annotation = { name: string; value: string };

/** The image's annotations, each overridden in place (or appended) by the pod manifest's app annotations. */
function mergedAnnotations(image: readonly Annotation[] | undefined, app: readonly Annotation[] | undefined): Annotation[] {
  const merged = (image ?? []).map((a) => ({ name: a.name, value: a.value }));
  for (const a of app ?? []) {
    const existing = merged.find((m) => m.name === a.name);
    if (existing !== undefined) existing.value = a.value;
    else merged.push({ name: a.name, value: a.value });
  }
  return merged;
}

function requireMethod(req: IncomingMessage, method: 'GET' | 'POST'): void {
  // HEAD is GET without the body; Node's server drops the body itself.
  if (req.method === method || (method === 'GET' && req.method === 'HEAD')) return;
  throw methodNotAllowed(req.method, method === 'GET' ? 'GET, HEAD' : 'POST');
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    throw new HttpFailure(415, `expected a form (application/x-www-form-urlencoded), got ${JSON.stringify(req.headers['content-type'] ?? '')}`);
  }
  return new URLSearchParams(await readBody(req));
}

function formValue(form: URLSearchParams, name: string): string | undefined {
  const v = form.get(name);
  return v === null || v === '' ? undefined : v;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Answers one app request, `/<token>/acMetadata/v1/<endpoint>`. An unknown token is a 404 like an
 * unknown path, so a guessed URL learns nothing.
 */
export async function handlePublic(req: IncomingMessage, res: ServerResponse, pods: PodTable, signer: PodSigner): Promise<void> {
  try {
    const path = new URL(req.url ?? '/', 'http://mds').pathname;
    const slash = path.indexOf('/', 1);
    const token = slash < 0 ? '' : decodeURIComponent(path.slice(1, slash));
    const rest = slash < 0 ? '' : path.slice(slash);
    const pod = token === '' ? undefined : pods.byToken(token);
    if (pod === undefined) throw new HttpFailure(404, 'unknown metadata token');
    if (!rest.startsWith(`${METADATA_PATH_BASE}/`)) throw new HttpFailure(404, `no such endpoint ${rest}`);
    const endpoint = rest.slice(METADATA_PATH_BASE.length + 1).split('/').map(decodeURIComponent);
    await route(req, res, pod, endpoint, signer);
  } catch (err) {
    if (err instanceof HttpFailure) sendFailure(res, err);
    else if (err instanceof URIError) sendFailure(res, new HttpFailure(400, 'malformed percent-encoding in the path'));
    else sendFailure(res, new HttpFailure(500, (err as Error).message));
  }
}

async function route(req: IncomingMessage, res: ServerResponse, pod: RegisteredPod, endpoint: string[], signer: PodSigner): Promise<void> {
  const [first, second, third] = endpoint;
  if (first === 'pod' && endpoint.length === 2) {
    switch (second) {
      case 'annotations':
        requireMethod(req, 'GET');
        return send(res, 200, JSON_TYPE, JSON.stringify(pod.manifest.annotations ?? []));
      case 'manifest':
        requireMethod(req, 'GET');
        return send(res, 200, JSON_TYPE, JSON.stringify(pod.manifest));
      case 'uuid':
        requireMethod(req, 'GET');
        return send(res, 200, ASCII_TYPE, pod.uuid);
    }
  }
  if (first === 'pod' && second === 'hmac' && endpoint.length === 3) {
    if (third === 'sign') {
      requireMethod(req, 'POST');
      const content = formValue(await readForm(req), 'content');
      if (content === undefined) throw new HttpFailure(400, 'form value "content" missing');
      return send(res, 200, ASCII_TYPE, signer.sign(pod.uuid, content));
    }
    if (third === 'verify') {
      requireMethod(req, 'POST');
      const form = await readForm(req);
      const content = formValue(form, 'content');
      if (content === undefined) throw new HttpFailure(400, 'form value "content" missing');
      // The spec names the field "uuid"; rkt read "uid": both are accepted.
      const uuid = formValue(form, 'uuid') ?? formValue(form, 'uid');
      if (uuid === undefined || !podUuidSchema.safeParse(uuid.toLowerCase()).success) {
        throw new HttpFailure(400, 'form value "uuid" missing or not a UUID');
      }
      const signature = formValue(form, 'signature');
      if (signature === undefined || !BASE64.test(signature)) throw new HttpFailure(400, 'form value "signature" missing or not base64');
      if (!signer.verify(uuid.toLowerCase(), content, Buffer.from(signature, 'base64'))) {
        throw new HttpFailure(403, 'signature does not match');
      }
      return send(res, 200, ASCII_TYPE, '');
    }
  }
  if (first === 'apps' && second !== undefined && second !== '') {
    const image = pod.apps.get(second);
    const app = pod.manifest.apps.find((a) => a.name === second);
    const leaf = endpoint.slice(2).join('/');
    if (leaf === 'annotations' || leaf === 'image/manifest' || leaf === 'image/id') {
      if (image === undefined || app === undefined) throw new HttpFailure(404, `no app ${JSON.stringify(second)} in this pod`);
      requireMethod(req, 'GET');
      if (leaf === 'annotations') return send(res, 200, JSON_TYPE, JSON.stringify(mergedAnnotations(image.annotations, app.annotations)));
      if (leaf === 'image/manifest') return send(res, 200, JSON_TYPE, JSON.stringify(image));
      return send(res, 200, ASCII_TYPE, app.image.id);
    }
  }
  throw new HttpFailure(404, `no such endpoint ${METADATA_PATH_BASE}/${endpoint.join('/')}`);
}

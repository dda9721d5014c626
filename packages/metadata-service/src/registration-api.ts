import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpFailure, JSON_TYPE, methodNotAllowed, readBody, send, sendFailure } from './http-util.js';
import type { PodTable } from './pod-table.js';
import { podUuidSchema, registrationSchema } from './registration.js';

export interface RegistrationContext {
  readonly pods: PodTable;
  /** The TCP port apps reach the service on, returned with each token. */
  readonly port: () => number;
  readonly log: (message: string) => void;
}

/**
 * The registration protocol on the unix socket (root only):
 * `PUT /pods/<uuid>` with `{manifest, apps: {<app>: <image manifest>}, ip?}` answers `{token, port}`;
 * `DELETE /pods/<uuid>` unregisters (404 if unknown); `GET /pods` lists the registered UUIDs.
 */
export async function handleRegistration(req: IncomingMessage, res: ServerResponse, ctx: RegistrationContext): Promise<void> {
  try {
    const path = new URL(req.url ?? '/', 'http://mds').pathname;
    if (path === '/pods') {
      if (req.method !== 'GET') throw methodNotAllowed(req.method, 'GET');
      return send(res, 200, JSON_TYPE, JSON.stringify(ctx.pods.uuids()));
    }
    const m = /^\/pods\/([^/]+)$/.exec(path);
    if (m === null) throw new HttpFailure(404, `no such endpoint ${path}`);
    const uuid = podUuidSchema.safeParse(m[1]);
    if (!uuid.success) throw new HttpFailure(400, `pod UUID ${JSON.stringify(m[1])} is not a UUID in canonical form`);
    if (req.method === 'PUT') {
      let body: unknown;
      try {
        body = JSON.parse(await readBody(req));
      } catch (err) {
        if (err instanceof HttpFailure) throw err;
        throw new HttpFailure(400, `registration of pod ${uuid.data}: body is not JSON: ${(err as Error).message}`);
      }
      const r = registrationSchema.safeParse(body);
      if (!r.success) {
        const issue = r.error.issues[0];
        throw new HttpFailure(400, `registration of pod ${uuid.data}: ${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`);
      }
      const token = ctx.pods.add(uuid.data, r.data);
      ctx.log(`registered pod ${uuid.data} (${r.data.manifest.apps.length} apps)`);
      return send(res, 200, JSON_TYPE, JSON.stringify({ token, port: ctx.port() }));
    }
    if (req.method === 'DELETE') {
      if (!ctx.pods.remove(uuid.data)) throw new HttpFailure(404, `pod ${uuid.data} is not registered`);
      ctx.log(`unregistered pod ${uuid.data}`);
      return send(res, 200, JSON_TYPE, '{}');
    }
    throw methodNotAllowed(req.method, 'PUT, DELETE');
  } catch (err) {
    sendFailure(res, err instanceof HttpFailure ? err : new HttpFailure(500, (err as Error).message));
  }
}

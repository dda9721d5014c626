import { createRequire } from 'node:module';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { ApiServiceError } from './errors.js';

/**
 * How the service and its clients decode messages: field names as in api.proto, enums by name, int64 as
 * decimal text (nanosecond times do not fit in a double), every field present.
 */
export const LOADER_OPTIONS = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true } as const;

/**
 * api.proto's path: found through the package's `./api.proto` export, so that it is found from the package's
 * source, its dist, and a bundle that includes it (the CLI's), wherever node_modules has the package.
 */
export function apiProtoPath(): string {
  return createRequire(import.meta.url).resolve('@rkt/api-service/api.proto');
}

/** rkt's `v1alpha.PublicAPI` service definition, for a grpc-js server or client. Error: API_PROTO. */
export async function loadPublicApi(protoPath: string = apiProtoPath()): Promise<ServiceDefinition> {
  const [grpc, loader] = await Promise.all([import('@grpc/grpc-js'), import('@grpc/proto-loader')]);
  let def;
  try {
    def = await loader.load(protoPath, LOADER_OPTIONS);
  } catch (err) {
    throw new ApiServiceError('API_PROTO', `cannot load ${protoPath}: ${(err as Error).message}`, { cause: err });
  }
  const v1alpha = grpc.loadPackageDefinition(def).v1alpha;
  const api = typeof v1alpha === 'object' && v1alpha !== null && 'PublicAPI' in v1alpha ? v1alpha.PublicAPI : undefined;
  if (typeof api !== 'function' || !('service' in api)) throw new ApiServiceError('API_PROTO', `${protoPath} defines no v1alpha.PublicAPI service`);
  return api.service;
}

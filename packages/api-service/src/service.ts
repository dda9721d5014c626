import type { Server as NetServer } from 'node:net';
import type { sendUnaryData, Server, ServerUnaryCall, ServerWritableStream, ServiceError, UntypedServiceImplementation } from '@grpc/grpc-js';
import { listPods, podDetails, PodError, type EventBus, type PodDetails, type PodSnapshot } from '@rkt/controller';
import { openStore, StoreError, type ImageRecord, type Store } from '@rkt/image-store';
import { ApiServiceError } from './errors.js';
import { matchesEventFilter, toApiEvent, type EventFilter } from './events.js';
import { matchesAnyImageFilter, toApiImage } from './images.js';
import { bindTarget, parseListen } from './listen.js';
import { LogStreams, type LogsRequest } from './logs.js';
import type { ApiImage, ApiPod, ImageFilter, Info, PodFilter } from './messages.js';
import { matchesAnyPodFilter, readPodView, toApiPod } from './pods.js';
import { loadPublicApi } from './proto.js';

/** The API version rkt 1.30 reported (supportedAPIVersion). */
export const API_VERSION = '1.0.0-alpha';

export interface ApiServiceOptions {
  /** The rkt data directory whose pods and images are served. */
  readonly dataDir: string;
  /** rkt's `--listen`: HOST:PORT, [IPV6]:PORT or :PORT (port 0: any free port). */
  readonly listen: string;
  /**
   * Listening sockets to serve on instead of binding `listen`: systemd's socket activation (rkt's
   * rkt-api.service ran under rkt-api-tcp.socket), descriptors 3 and up.
   */
  readonly listenFds?: readonly number[];
  /** What GetInfo answers: rkt's version and the flags the service was started with (`api_version` is this package's). */
  readonly info: Omit<Info, 'api_version'>;
  /** Where a request's failure is told (the status goes to the client): rkt logged them. */
  readonly log?: (message: string) => void;
  /** api.proto's path, when not the package's own. */
  readonly protoPath?: string;
  /**
   * Where rkt commands publish pod lifecycle events (a NATS bus, `@rkt/controller/nats`), which ListenEvents
   * relays; without one ListenEvents answers UNIMPLEMENTED. The caller owns it (and closes it after `close`).
   */
  readonly events?: EventsSource;
}

/** A bus ListenEvents subscribes to; with `flush` (the NATS bus's), each stream's first response says it is live. */
export type EventsSource = EventBus & { flush?(): Promise<void> };

export interface ApiService {
  /** The port bound (the one asked for, or the kernel's pick for port 0). */
  readonly port: number;
  /** Stops accepting calls, lets those in progress finish (at most `graceMs`, 2 s by default), and closes. */
  close(graceMs?: number): Promise<void>;
}

/** gRPC status codes (grpc-js `status`), spelt here so that this module needs nothing of grpc-js loaded. */
const Status = { INVALID_ARGUMENT: 3, NOT_FOUND: 5, INTERNAL: 13, UNAVAILABLE: 14, UNIMPLEMENTED: 12 } as const;

/** A gRPC status with one message line, as the client sees it. */
function status(code: number, message: string): Partial<ServiceError> {
  return { code, details: message, message };
}

/** A request's failure as its status: what was not found is NOT_FOUND, a malformed ID INVALID_ARGUMENT, the rest INTERNAL. */
function statusOf(err: unknown): Partial<ServiceError> {
  const message = (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
  if (err instanceof PodError) {
    if (err.code === 'POD_NOT_FOUND') return status(Status.NOT_FOUND, message);
    if (err.code === 'POD_BAD_UUID' || err.code === 'POD_AMBIGUOUS') return status(Status.INVALID_ARGUMENT, message);
  }
  if (err instanceof StoreError) {
    if (err.code === 'STORE_NOT_FOUND') return status(Status.NOT_FOUND, message);
    if (err.code === 'STORE_BAD_REFERENCE' || err.code === 'STORE_AMBIGUOUS') return status(Status.INVALID_ARGUMENT, message);
    if (err.code === 'STORE_BUSY') return status(Status.UNAVAILABLE, message);
  }
  return status(Status.INTERNAL, message);
}

/**
 * The pods rkt's API saw (pkgPod.IncludeMostDirs, which ListPods walked and InspectPod's UUID resolution
 * searched): those in prepare/, prepared/, run/ and exited-garbage/; not an embryo, nor a pod of garbage/ (a
 * prepare gc gave up on, or one being deleted).
 */
const listedByRkt = (p: PodSnapshot): boolean => p.stateDir !== 'embryo' && p.stateDir !== 'garbage';

/**
 * InspectPod's ID as rkt 1.30's PodFromUUIDString took it: a full UUID or any prefix of one (case ignored) that
 * names one pod rkt's API sees. No match is NOT_FOUND, several INVALID_ARGUMENT; the messages are rkt's.
 */
function resolvePod(dataDir: string, id: string): PodSnapshot {
  const want = id.toLowerCase();
  if (want === '') throw new PodError('POD_BAD_UUID', 'unable to resolve UUID: UUID cannot be empty', { subject: id });
  const matches = listPods(dataDir, (uuid) => uuid.startsWith(want)).filter(listedByRkt);
  if (matches.length === 0) throw new PodError('POD_NOT_FOUND', `unable to resolve UUID: no matches found for ${JSON.stringify(want)}`, { subject: id });
  if (matches.length > 1) throw new PodError('POD_AMBIGUOUS', `unable to resolve UUID: ambiguous uuid, ${matches.length} matches`, { subject: id });
  return matches[0]!;
}
const IMAGE_ID_RE = /^sha512-[0-9a-f]{128}$/;

/**
 * A pod's details; undefined when it went away (rm, gc) between the listing and the read, or cannot be read
 * (logged): as rkt's ListPods, which returned no partial pods, and `rkt list`, one pod does not fail the list.
 */
async function detailsOrSkip(p: PodSnapshot, log: (m: string) => void): Promise<PodDetails | undefined> {
  try {
    return await podDetails(p);
  } catch (err) {
    if (!(err instanceof PodError && err.code === 'POD_NOT_FOUND')) log(`ListPods: skipping pod ${p.uuid}: ${(err as Error).message.split('\n')[0]}`);
    return undefined;
  }
}

async function imageOf(store: Store, record: ImageRecord, withManifest: boolean): Promise<ApiImage> {
  return toApiImage({ record, manifest: await store.manifest(record.id) }, withManifest);
}

/**
 * The handlers of rkt's PublicAPI over one data directory. Every call reads the pods and the store afresh and
 * takes no pod lock (as `rkt list`): the service keeps no state of its own.
 */
export function publicApiHandlers(dataDir: string, info: Info, log: (m: string) => void, events?: EventStreams, logs: LogStreams = new LogStreams()): UntypedServiceImplementation {
  // Opened on the first image call, not at start: a service that could not bind has written nothing, and one
  // over a data directory without a store yet serves its pods. A failed opening is tried again next call.
  let opened: Promise<Store> | undefined;
  const storeOf = (): Promise<Store> => {
    opened ??= openStore({ dir: dataDir }).catch((err: unknown) => {
      opened = undefined;
      throw err;
    });
    return opened;
  };
  const unary =
    <Req, Res>(name: string, work: (req: Req) => Promise<Res>) =>
    (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
      work(call.request).then(
        (res) => callback(null, res),
        (err: unknown) => {
          const s = statusOf(err);
          log(`${name}: ${s.details}`);
          callback(s, null);
        },
      );
    };
  // grpc-js ends a server stream with the status of an error emitted on it.
  const unimplemented = (message: string) => (call: ServerWritableStream<unknown, unknown>) => call.emit('error', status(Status.UNIMPLEMENTED, message));

  return {
    GetInfo: unary('GetInfo', async () => ({ info })),

    ListPods: unary('ListPods', async (req: { filters: PodFilter[]; detail: boolean }) => {
      const all = await Promise.all(listPods(dataDir).filter(listedByRkt).map((p) => detailsOrSkip(p, log)));
      const pods: ApiPod[] = [];
      for (const d of all) {
        if (d === undefined) continue;
        const pod = toApiPod(readPodView(d), req.detail);
        if (matchesAnyPodFilter(pod, req.filters)) pods.push(pod);
      }
      // By UUID, as rkt's WalkPods (sort.Strings).
      return { pods: pods.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) };
    }),

    InspectPod: unary('InspectPod', async (req: { id: string }) => {
      const d = await podDetails(resolvePod(dataDir, req.id));
      return { pod: toApiPod(readPodView(d), true) };
    }),

    ListImages: unary('ListImages', async (req: { filters: ImageFilter[]; detail: boolean }) => {
      const store = await storeOf();
      const records = await store.list();
      const images = await Promise.all(
        records.map((r) =>
          imageOf(store, r, true).catch((err: unknown) => {
            // Removed between the listing and the read of its manifest: not an image to show.
            if (err instanceof StoreError && err.code === 'STORE_NOT_FOUND') return undefined;
            throw err;
          }),
        ),
      );
      return {
        images: images
          .filter((i): i is ApiImage => i !== undefined && matchesAnyImageFilter(i, req.filters))
          .map((i) => (req.detail ? i : { ...i, manifest: undefined })),
      };
    }),

    InspectImage: unary('InspectImage', async (req: { id: string }) => {
      // rkt 1.30 looked the ID up as a blob key, whole: a prefix, a name or anything else not stored is not found,
      // in rkt's words.
      const notFound = () => new StoreError('STORE_NOT_FOUND', `ACI info not found with blob key ${JSON.stringify(req.id)}`, { subject: req.id });
      if (!IMAGE_ID_RE.test(req.id)) throw notFound();
      const store = await storeOf();
      const record = await store.get(req.id);
      if (record === undefined) throw notFound();
      return { image: await imageOf(store, record, true) };
    }),

    ListenEvents:
      events === undefined
        ? unimplemented('ListenEvents needs an event bus: name a NATS server in events.d, where rkt commands publish pod events')
        : (call: ServerWritableStream<{ filter: EventFilter | null }, unknown>) => events.open(call),

    // rkt read the systemd stage1 pod's journal; rkt-ts's systemd stage1 keeps the apps' output log in the pod
    // (logs.ts). A pod without one (fly's, or run before the log was kept) is refused in rkt's words.
    GetLogs: (call: ServerWritableStream<LogsRequest, unknown>) => {
      let pod: PodSnapshot;
      try {
        pod = resolvePod(dataDir, call.request.pod_id);
      } catch (err) {
        const s = statusOf(err);
        log(`GetLogs: ${s.details}`);
        return void call.emit('error', s);
      }
      if (!logs.serve(call, pod.path)) call.emit('error', status(Status.UNIMPLEMENTED, `logging unsupported for pod ${JSON.stringify(call.request.pod_id)}`));
    },
  };
}

/**
 * ListenEvents' streams over one bus: each relays, one event a response, the lifecycle events rkt's EventType
 * names (see events.ts) that its filter lets through, from its call on (the bus keeps no history), until the
 * client cancels, `until_time` passes, or the service closes (`endAll`).
 */
export class EventStreams {
  readonly #open = new Set<() => void>();
  constructor(private readonly bus: EventsSource) {}

  open(call: ServerWritableStream<{ filter: EventFilter | null }, unknown>): void {
    const filter = call.request.filter;
    const until = Number(filter?.until_time ?? 0) * 1000;
    let timer: NodeJS.Timeout | undefined;
    const unsubscribe = this.bus.subscribe('', (e) => {
      const ev = toApiEvent(e);
      if (ev !== undefined && matchesEventFilter(ev, filter)) call.write({ events: [ev] });
    });
    const end = (): void => {
      if (!this.#open.delete(end)) return;
      unsubscribe();
      clearTimeout(timer);
      call.end();
    };
    this.#open.add(end);
    if (until > 0) timer = setTimeout(end, Math.max(0, Math.min(until - Date.now(), 2 ** 31 - 1)));
    call.on('cancelled', end);
    call.on('close', end);
    // Once the server has the subscription, a response without events tells the client that nothing published
    // from now on is missed (the proto allows an empty one), as `rkt events` waits for it before saying so.
    void this.bus.flush?.().then(() => {
      if (this.#open.has(end)) call.write({ events: [] });
    });
  }

  endAll(): void {
    for (const end of [...this.#open]) end();
  }
}

/** grpc-js's bind failure as one line: the system's reason (EADDRINUSE...) when it gives one. */
function listenError(target: string, err: Error): ApiServiceError {
  const reason = /EADDRINUSE|EADDRNOTAVAIL|EACCES|ENOTFOUND|EAI_AGAIN/.exec(err.message)?.[0];
  const words: Record<string, string> = {
    EADDRINUSE: 'address already in use',
    EADDRNOTAVAIL: 'not an address of this host',
    EACCES: 'permission denied',
    ENOTFOUND: 'host name not found',
    EAI_AGAIN: 'host name not found',
  };
  return new ApiServiceError('API_LISTEN', `cannot listen on ${target}: ${reason ? words[reason] : err.message.split('\n')[0]}`, { cause: err });
}

/**
 * Starts rkt's read-only gRPC API (v1alpha PublicAPI) on `listen` over the pods and images of `dataDir`.
 * Nothing is written anywhere. Errors: API_BAD_LISTEN (before anything is loaded), API_LISTEN, API_PROTO.
 */
export async function startApiService(o: ApiServiceOptions): Promise<ApiService> {
  const address = parseListen(o.listen);
  const target = bindTarget(address);
  const [grpc, service] = await Promise.all([import('@grpc/grpc-js'), loadPublicApi(o.protoPath)]);
  const log = o.log ?? (() => undefined);
  // grpc-js's own lines (a failed bind's "No address added...") would reach stderr beside the one line the
  // caller makes of the failure: they go to `log` instead.
  grpc.setLogger({ error: (...args: unknown[]) => log(args.map(String).join(' ')) });
  grpc.setLogVerbosity(grpc.logVerbosity.ERROR);
  const server: Server = new grpc.Server();
  const streams = o.events === undefined ? undefined : new EventStreams(o.events);
  const logs = new LogStreams();
  server.addService(service, publicApiHandlers(o.dataDir, { ...o.info, api_version: API_VERSION }, log, streams, logs));
  let port: number;
  let listeners: NetServer[] = [];
  if (o.listenFds !== undefined && o.listenFds.length > 0) {
    // grpc-js binds addresses only: the passed sockets' connections are handed to it one by one.
    const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    const { createServer } = await import('node:net');
    listeners = await Promise.all(
      o.listenFds.map(
        (fd) =>
          new Promise<NetServer>((resolve, reject) => {
            const l = createServer((socket) => injector.injectConnection(socket));
            l.once('error', (err) => reject(new ApiServiceError('API_LISTEN', `cannot serve on the passed socket (fd ${fd}): ${err.message}`, { cause: err })));
            l.listen({ fd }, () => resolve(l));
          }),
      ),
    );
    const a = listeners[0]!.address();
    port = typeof a === 'object' && a !== null ? a.port : 0;
  } else {
    port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(target, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(listenError(o.listen, err)) : resolve(p)));
    });
  }
  return {
    port,
    close: (graceMs = 2000) =>
      new Promise<void>((resolve) => {
        // Event streams last until told to end: ended first, so that the shutdown waits for the unary calls only.
        streams?.endAll();
        logs.endAll();
        for (const l of listeners) l.close();
        const timer = setTimeout(() => server.forceShutdown(), graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}

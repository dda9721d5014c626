import { join } from 'node:path';
import { findPod, POD_TOPICS, subscriptionSubject, type PodEvent } from '@rkt/controller/lean';
import type { CommandContext } from '../command.js';
import { CliError } from '../errors.js';
import { cliEventsConfig } from './pods/common.js';
import { natsBusOptions } from './pods/events-config.js';

const FULL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** `rkt events`: the pod lifecycle events every rkt process publishes to the configured NATS server, as they come. */
export async function run(ctx: CommandContext): Promise<void> {
  const topic = ctx.flags.string('topic');
  if (!POD_TOPICS.some((t) => t.startsWith(topic))) {
    throw new CliError('CLI_BAD_FLAG_VALUE', `--topic ${JSON.stringify(topic)} matches no topic (topics: ${POD_TOPICS.join(', ')})`);
  }
  // A pod that does not exist yet can only be named in full; a prefix must name one that does.
  const podFlag = ctx.flags.string('pod').toLowerCase();
  const podUuid = podFlag === '' ? undefined : FULL_UUID.test(podFlag) ? podFlag : findPod(ctx.dataDir(), podFlag).uuid;
  const nats = cliEventsConfig(ctx)?.nats;
  if (nats === undefined) {
    throw new CliError('CLI_BAD_ARGS', 'no event bus is configured', {
      hint: `name a NATS server in a file of kind "events" in ${join(ctx.globals.localConfigDir, 'events.d')} (see "rkt help events")`,
    });
  }
  const { createNatsBus } = await import('@rkt/controller/nats');
  const bus = createNatsBus({
    ...natsBusOptions(nats),
    name: 'rkt events',
    // A subscriber outlives a server's restart: it tries again for as long as it runs.
    maxReconnectAttempts: -1,
    onStatus: (status) => ctx.log.warn(status === 'disconnected' ? `lost the connection to NATS at ${nats.servers.join(',')}; trying again` : 'connected again'),
    // A connection failure is thrown below; a message that is not an event is worth a line, and skipped.
    onError: (err) => {
      if (err.code !== 'BUS_CONNECT') ctx.log.warn(err.message);
    },
  });
  const json = ctx.flags.string('format') === 'json';
  const print = (e: PodEvent) => {
    ctx.stdout.write(json ? `${JSON.stringify(e)}\n` : `${e.timestamp} ${e.topic} ${e.podUuid} ${JSON.stringify(e.payload)}\n`);
  };
  let interrupted: () => void = () => {};
  const stopped = new Promise<undefined>((resolve) => (interrupted = () => resolve(undefined)));
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    await bus.ready();
    bus.subscribe(topic, print, podUuid === undefined ? {} : { podUuid });
    // Once the server has the subscription, nothing published from now on is missed.
    await bus.flush();
    ctx.log.debug(`subscribed to ${subscriptionSubject(bus.subjectPrefix, topic, podUuid)} on ${nats.servers.join(',')}`);
    const lost = await Promise.race([stopped, bus.closed()]);
    if (lost !== undefined) throw lost;
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    await bus.close();
  }
}

import { DEFAULT_NATS_TIMEOUT_MS, DEFAULT_SUBJECT_PREFIX } from '@rkt/controller/lean';
import { configDirs, readAuthConfig, readDockerAuthConfig } from '@rkt/fetcher';
import type { CommandContext } from '../command.js';
import { configEntries } from './config-entries.js';
import { eventsConfigOf } from './pods/events-config.js';
import { dataDirOf } from './pods/paths-config.js';
import { defaultStage1Location, stage1ConfigOf, stage1ImagesDirectory } from './pods/stage1-config.js';

/**
 * `rkt config`: the configuration stage0 applies, read by the readers the commands use, from the directories
 * each uses (the system, local and user directories, for every kind, as rkt's getConfig read them), so that a
 * malformed file fails here with the line it fails them with.
 */
export async function run(ctx: CommandContext): Promise<void> {
  const g = ctx.globals;
  const stage1 = stage1ConfigOf(g);
  const events = eventsConfigOf(g)?.nats;
  const [auth, docker] = await Promise.all([readAuthConfig(configDirs(g)), readDockerAuthConfig(configDirs(g))]);
  const doc = configEntries({
    auth,
    dockerAuth: docker.byRegistry,
    data: dataDirOf(g).dir,
    stage1Images: stage1ImagesDirectory(g, stage1),
    stage1: { name: stage1.name, version: stage1.version, location: defaultStage1Location(stage1) },
    ...(events !== undefined ? { events } : {}),
    eventDefaults: { subjectPrefix: DEFAULT_SUBJECT_PREFIX, timeoutMs: DEFAULT_NATS_TIMEOUT_MS },
  });
  // rkt printed json.MarshalIndent(config, "", "\t") unless --pretty-print=false.
  ctx.stdout.write(`${ctx.flags.bool('pretty-print') ? JSON.stringify(doc, null, '\t') : JSON.stringify(doc)}\n`);
}

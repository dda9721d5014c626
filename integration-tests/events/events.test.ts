// Pod lifecycle events on a real nats-server: what `rkt events` shows of real pods under each stage1, and
// what a bus that is missing, unreachable or misconfigured does to the commands that publish.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startNatsServer, type TestNatsServer } from '../../packages/controller/test/nats-server.js';
import { busyboxAciOfFile, ensureBuilt, prepareStage1Stores, RktEnv, STAGE1S, type RktResult } from '../pods/harness.js';

let server: TestNatsServer;
let env: RktEnv;
let aci: string;
// Every test hands the same image to rkt, which imports it into the test's own store.
const fileAci = busyboxAciOfFile();
let etc: string;

beforeAll(async () => {
  ensureBuilt();
  prepareStage1Stores(...STAGE1S);
  server = await startNatsServer();
}, 600_000);
afterAll(async () => {
  await server?.stop();
});
afterEach(async () => {
  await env.cleanup();
});

interface Event {
  timestamp: string;
  topic: string;
  podUuid: string;
  payload: Record<string, unknown>;
}

/** The test's local configuration directory, with an events.d file holding `nats` (none when undefined). */
function configure(nats: Record<string, unknown> | undefined): void {
  mkdirSync(join(etc, 'events.d'), { recursive: true });
  if (nats !== undefined) writeFileSync(join(etc, 'events.d', 'nats.json'), JSON.stringify({ rktKind: 'events', rktVersion: 'v1', nats }));
}

const rkt = (args: string[], o: { timeoutMs?: number } = {}): RktResult => env.run([args[0]!, `--local-config=${etc}`, ...args.slice(1)], o);

/** `rkt events` in the background, once its subscription is on the server (its --debug line says so). */
async function subscribe(args: string[] = []) {
  const sub = env.start(['events', `--local-config=${etc}`, '--debug', ...args]);
  let stdout = '';
  let stderr = '';
  sub.child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  sub.child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  await until(() => /subscribed to /.test(stderr), () => `rkt events never subscribed: ${stderr}`);
  return {
    ...sub,
    stdout: () => stdout,
    stderr: () => stderr,
    events: () => stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Event),
  };
}

async function until(ok: () => boolean, why: () => string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(why());
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe.each(STAGE1S)('pod events on NATS ($name)', (stage1) => {
  beforeEach(() => {
    env = new RktEnv(stage1);
    env.seedStage1();
    etc = join(env.tmp, 'etc');
    aci = fileAci.path;
    configure({ servers: [server.url] });
  });

  it('rkt events shows a pod from prepare to gc, in order, with its exit status', async () => {
    const all = await subscribe(['--format=json']);
    const exits = await subscribe(['--topic=app/']);

    const r = rkt(['run', aci, '--exec=/bin/sh', '--', '-c', 'exit 7']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(7);
    const uuid = env.podUuids()[0]!;
    expect(rkt(['gc', '--grace-period=0s']).status).toBe(0);

    await until(
      () => all.events().some((e) => e.topic === 'pod/garbage-collected'),
      () => `no pod/garbage-collected event: ${all.stdout()}`,
    );
    const seen = all.events();
    expect(seen.every((e) => e.podUuid === uuid)).toBe(true);
    expect(seen.map((e) => e.topic)).toEqual(['pod/prepared', 'pod/running', 'app/started', 'app/exited', 'pod/exited', 'pod/marked', 'pod/garbage-collected']);
    expect(seen.find((e) => e.topic === 'app/exited')?.payload).toEqual({ app: 'busybox', exitStatus: 7 });
    expect(seen.find((e) => e.topic === 'pod/exited')?.payload).toEqual({ exitStatus: 7 });
    const times = seen.map((e) => Date.parse(e.timestamp));
    expect([...times].sort((a, b) => a - b)).toEqual(times);

    await until(() => exits.stdout().split('\n').length > 2, () => `app events: ${exits.stdout()}`);
    const lines = exits.stdout().trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z app/started ${uuid} \\{"app":"busybox","image":"example.com/busybox"\\}$`));
    expect(lines[1]).toMatch(new RegExp(`^\\S+ app/exited ${uuid} \\{"app":"busybox","exitStatus":7\\}$`));

    // Interrupted, rkt events closes its connection and exits 0.
    all.child.kill('SIGINT');
    exits.child.kill('SIGTERM');
    expect((await all.done).status).toBe(0);
    expect((await exits.done).status).toBe(0);
  });
});

describe('a pod of several apps (systemd)', () => {
  beforeEach(() => {
    env = new RktEnv(STAGE1S.find((s) => s.name === 'systemd'));
    env.seedStage1();
    etc = join(env.tmp, 'etc');
    aci = fileAci.path;
    configure({ servers: [server.url] });
  });

  it('publishes each app/exited when that app ends, not at the end of the pod', async () => {
    const sub = await subscribe(['--format=json', '--topic=']);
    // An app that ends with 0 leaves the others running (one that fails would stop them).
    const r = rkt(['run', aci, '--name=long', '--exec=/bin/sh', '--', '-c', 'sleep 3; exit 5', '---', aci, '--name=quick', '--exec=/bin/true']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(5);
    await until(() => sub.events().some((e) => e.topic === 'pod/exited'), () => `no pod/exited: ${sub.stdout()}`);
    const at = (topic: string, app?: string) => {
      const e = sub.events().find((x) => x.topic === topic && (app === undefined || x.payload.app === app));
      if (e === undefined) throw new Error(`no ${topic} ${app ?? ''}: ${sub.stdout()}`);
      return e;
    };
    expect(at('app/exited', 'quick').payload).toEqual({ app: 'quick', exitStatus: 0 });
    expect(at('app/exited', 'long').payload).toEqual({ app: 'long', exitStatus: 5 });
    // quick ended ~3 s before long and the pod: its event says so.
    expect(Date.parse(at('pod/exited').timestamp) - Date.parse(at('app/exited', 'quick').timestamp)).toBeGreaterThan(1500);
    expect(sub.events().filter((e) => e.topic === 'app/exited')).toHaveLength(2);
    sub.child.kill('SIGINT');
    expect((await sub.done).status).toBe(0);
  });
});

describe('event bus configuration', () => {
  beforeEach(() => {
    env = new RktEnv(STAGE1S[0]);
    etc = join(env.tmp, 'etc');
    aci = fileAci.path;
  });

  it('narrows rkt events to one pod, named by a prefix of its UUID, and to one topic', async () => {
    configure({ servers: server.url, subjectPrefix: 'site.one' });
    const uuid = rkt(['prepare', '--quiet', aci]).stdout.trim();
    const other = rkt(['prepare', '--quiet', aci]).stdout.trim();
    const mine = await subscribe(['--format=json', `--pod=${uuid.slice(0, 8)}`, '--topic=pod/removed']);
    expect(rkt(['rm', other]).status).toBe(0);
    expect(rkt(['rm', uuid]).status).toBe(0);
    await until(() => mine.events().length > 0, () => 'no event');
    // A third removal would show up had the filter let the other pod's through: it came first and did not.
    expect(mine.events().map((e) => `${e.topic} ${e.podUuid}`)).toEqual([`pod/removed ${uuid}`]);
    mine.child.kill('SIGINT');
    expect((await mine.done).status).toBe(0);
  });

  it('rkt events outlives a restart of the server, and says so', async () => {
    const own = await startNatsServer();
    let restarted: TestNatsServer | undefined;
    try {
      configure({ servers: own.url });
      const sub = await subscribe(['--format=json']);
      await own.stop();
      await until(() => /lost the connection to NATS at nats:\/\/127\.0\.0\.1:\d+; trying again\n/.test(sub.stderr()), () => `no word of the loss: ${sub.stderr()}`);
      restarted = await startNatsServer({ port: own.port });
      await until(() => /connected again\n/.test(sub.stderr()), () => `not connected again: ${sub.stderr()}`);
      const uuid = rkt(['prepare', '--quiet', aci]).stdout.trim();
      await until(() => sub.events().length > 0, () => `no event after the restart: ${sub.stderr()}`);
      expect(sub.events().map((e) => `${e.topic} ${e.podUuid}`)).toEqual([`pod/prepared ${uuid}`]);
      sub.child.kill('SIGINT');
      expect((await sub.done).status).toBe(0);
    } finally {
      await own.stop();
      await restarted?.stop();
    }
  });

  it("a pod's exit is published though the server was away while it ran", async () => {
    const own = await startNatsServer();
    let restarted: TestNatsServer | undefined;
    try {
      configure({ servers: own.url, timeout: '5s' });
      const sub = await subscribe(['--format=json']);
      const run = env.start(['run', `--local-config=${etc}`, aci, '--exec=/bin/sleep', '--', '4']);
      await until(() => sub.events().some((e) => e.topic === 'pod/running'), () => `the pod never ran: ${sub.stdout()}`);
      await own.stop();
      await until(() => /trying again/.test(sub.stderr()), () => `no word of the loss: ${sub.stderr()}`);
      restarted = await startNatsServer({ port: own.port });
      const r = await run.done;
      expect(r.status).toBe(0);
      expect(r.stderr).toBe('');
      await until(() => sub.events().some((e) => e.topic === 'pod/exited'), () => `no pod/exited: ${sub.stdout()} ${sub.stderr()}`);
      expect(sub.events().find((e) => e.topic === 'pod/exited')?.payload).toEqual({ exitStatus: 0 });
      sub.child.kill('SIGINT');
      expect((await sub.done).status).toBe(0);
    } finally {
      await own.stop();
      await restarted?.stop();
    }
  });

  it('an unreachable server costs a run one line, not its status or its pod', async () => {
    const gone = await startNatsServer();
    await gone.stop();
    configure({ servers: [gone.url], timeout: '1s' });
    const t0 = Date.now();
    const r = rkt(['run', aci, '--exec=/bin/sh', '--', '-c', 'echo hi; exit 3']);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(r.status).toBe(3);
    expect(r.stdout).toBe('hi\n');
    expect(r.stderr).toMatch(new RegExp(`^run: events: cannot connect to NATS at ${gone.url.replace(/\./g, '\\.')}: .+\n$`));
    const ev = rkt(['events']);
    expect(ev.status).toBe(254);
    expect(ev.stderr).toMatch(/^events: cannot connect to NATS at nats:\/\/127\.0\.0\.1:\d+: .+\n$/);
  });

  it('a bad events.d file is one line naming it and the field, and prepares nothing', () => {
    configure({ servers: ['nats://127.0.0.1:4222'], subjectPrefix: 'rkt.>' });
    const r = rkt(['run', aci]);
    expect(r.status).toBe(254);
    expect(r.stderr).toBe(`run: events configuration ${join(etc, 'events.d', 'nats.json')}: nats.subjectPrefix: subject prefix "rkt.>" is not a NATS subject of plain tokens (letters, digits, "_" and "-", joined by ".")\n`);
    expect(env.podUuids()).toEqual([]);
    configure({ server: 'nats://127.0.0.1:4222' });
    const typo = rkt(['prepare', aci]);
    expect(typo.status).toBe(254);
    expect(typo.stderr).toMatch(/^prepare: events configuration .*nats\.json: nats\.server: unknown field \(known: servers, timeout, subjectPrefix, user, password, token, caFile\)\n$/);
    expect(env.podUuids()).toEqual([]);
  });

  it('refuses, in one line naming the field, what would fail later or leak', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ servers: 'nats://u:secret@127.0.0.1:4222' }, 'nats.servers[0]: credentials do not go in the URL: give them as "user" and "password", or "token"'],
      [{ servers: ['nats://127.0.0.1:99999'] }, 'nats.servers[0]: port 99999 is not between 1 and 65535'],
      [{ servers: ['nats://127.0.0.1:4222', 'tls://127.0.0.1:4223'] }, 'nats.servers: all nats:// or all tls:// (TLS is required of every server or of none)'],
      [{ servers: 'nats://127.0.0.1:4222', timeout: '1000h' }, 'nats.timeout: must be at most 1h, got "1000h"'],
      [{ servers: 'tls://127.0.0.1:4222', caFile: 'ca.pem' }, 'nats.caFile: must be an absolute path, got "ca.pem"'],
    ];
    for (const [nats, line] of cases) {
      configure(nats);
      const r = rkt(['prepare', aci]);
      expect(r.stderr, JSON.stringify(nats)).toBe(`prepare: events configuration ${join(etc, 'events.d', 'nats.json')}: ${line}\n`);
      expect(r.status).toBe(254);
    }
    writeFileSync(join(etc, 'events.d', 'nats.json'), JSON.stringify({ rktKind: 'events', rktVersion: 'v1', nats: { servers: 'nats://127.0.0.1:4222' }, extra: 1 }));
    const extra = rkt(['gc']);
    expect(extra.stderr).toBe(`gc: events configuration ${join(etc, 'events.d', 'nats.json')}: extra: unknown field (known: rktKind, rktVersion, nats)\n`);
    expect(extra.status).toBe(254);
    expect(env.podUuids()).toEqual([]);
  });

  it('a server that accepts and never speaks costs each command its timeout, not its exit or its status', async () => {
    const peers: Socket[] = [];
    const silent = createServer({ allowHalfOpen: true }, (s) => peers.push(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const url = `nats://127.0.0.1:${(silent.address() as { port: number }).port}`;
      configure({ servers: url, timeout: '500ms' });
      // Run in the background: the silent server lives in this process, whose event loop must go on.
      const t0 = Date.now();
      const run = await env.start(['run', `--local-config=${etc}`, aci, '--exec=/bin/sh', '--', '-c', 'echo in-pod; exit 6']).done;
      expect(Date.now() - t0).toBeLessThan(8000);
      expect(run.status).toBe(6);
      expect(run.stdout).toBe('in-pod\n');
      expect(run.stderr).toMatch(new RegExp(`^run: events: cannot connect to NATS at ${url.replace(/\./g, '\\.')}: .*timeout.*\n$`, 'i'));
      const ev = await env.start(['events', `--local-config=${etc}`]).done;
      expect(ev.status).toBe(254);
      expect(ev.stderr).toMatch(/^events: cannot connect to NATS at .*timeout/i);
      expect(peers.length).toBeGreaterThanOrEqual(2);
    } finally {
      for (const p of peers) p.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('rkt events without a bus says how to configure one', () => {
    configure(undefined);
    const r = rkt(['events']);
    expect(r.status).toBe(254);
    expect(r.stderr).toBe(`events: no event bus is configured (name a NATS server in a file of kind "events" in ${join(etc, 'events.d')} (see "rkt help events"))\n`);
    const bad = rkt(['events', '--topic=pods/']);
    expect(bad.status).toBe(254);
    expect(bad.stderr).toMatch(/^events: --topic "pods\/" matches no topic \(topics: pod\/prepared, /);
  });
});

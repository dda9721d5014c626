// Bad input to the commands sessions 24-26 added, through the built bin/rkt as a user meets it, against a data
// directory holding a running systemd sandbox with an app, a prepared pod and an exited one: `rkt app
// sandbox/add/rm/start/stop/list/status` (RKT_EXPERIMENT_APP), `rkt attach` (RKT_EXPERIMENT_ATTACH), `rkt
// api-service`, `rkt events`, `rkt config`, `rkt image verify` and `rkt image rebuild-index`. Each case is one line on
// stderr naming what was wrong (the flag, the argument, the pod, the app), exit 254, nothing on stdout, and every
// file of the data directory as it was (sizes and mtimes; the image index's LevelDB files aside), the pods and
// the sandbox's apps as they were. Beside bad-input.test.ts, which covers the older commands: a worker each.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIsolatorAci } from '../isolators/harness.js';
import { buildBusyboxAci, ensureBuilt, RktEnv, STAGE1S, type RktResult } from '../pods/harness.js';
import { rktIn, tree } from './refused.js';

const SKIP_IMAGE_CHECK_WARNING = 'warning: image signature verification has been disabled (--insecure-options=image)\n';
const EXPERIMENTS = { RKT_EXPERIMENT_APP: 'true', RKT_EXPERIMENT_ATTACH: 'true' };

let env: RktEnv;
let sandbox: { done: Promise<RktResult> } | undefined;
/** The running sandbox (with the app "one", created), a prepared pod, an exited pod. */
let running: string;
let prepared: string;
let exited: string;
let emptyConfig: string;
const systemd = STAGE1S.find((s) => s.name === 'systemd')!;
const fly = STAGE1S.find((s) => s.name === 'fly')!;

/** bin/rkt with both experiments on and this data directory (no other global flag), in the test's directory. */
const rkt = (args: readonly string[]): Promise<RktResult> => rktIn(env.dataDir, env.tmp, args, EXPERIMENTS);

/** The pods and the sandbox's apps as a user sees them. */
async function listings(): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const args of [['list', '--format=json'], ['image', 'list', '--format=json'], ['app', 'list', '--format=json', running]]) {
    const r = await rkt(args);
    expect(r.status, r.stderr).toBe(0);
    out.push(JSON.parse(r.stdout));
  }
  return out;
}

interface Case {
  readonly args: readonly string[];
  /** The whole stderr line, without its newline. */
  readonly line: string;
}

/** Each case: exit 254, nothing on stdout, that one line (after the warning --insecure-options=image asks for), every file as it was. */
async function sweep(cases: readonly Case[]): Promise<void> {
  const listed = await listings();
  const before = tree(env.dataDir);
  for (const c of cases) {
    const what = c.args.join(' ');
    const r = await rkt(c.args);
    const stderr = c.args.includes('--insecure-options=image') && r.stderr.startsWith(SKIP_IMAGE_CHECK_WARNING) ? r.stderr.slice(SKIP_IMAGE_CHECK_WARNING.length) : r.stderr;
    expect({ status: r.status, stdout: r.stdout, stderr }, what).toEqual({ status: 254, stdout: '', stderr: `${c.line}\n` });
    expect(tree(env.dataDir), what).toEqual(before);
  }
  expect(await listings()).toEqual(listed);
}

beforeAll(async () => {
  ensureBuilt();
  env = new RktEnv(systemd);
  env.seedStage1();
  emptyConfig = join(env.tmp, 'empty-config');
  mkdirSync(emptyConfig);
  const aci = await buildBusyboxAci(env.tmp);
  expect(env.run(['fetch', aci]).status).toBe(0);
  // Images whose own isolators ask what a running mutable pod cannot give.
  const big = await buildIsolatorAci(env.tmp, 'big', [{ name: 'resource/memory', value: { limit: '64M' } }]);
  const admin = await buildIsolatorAci(env.tmp, 'admin', [{ name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_NET_ADMIN'] } }]);
  for (const image of [big, admin]) expect(env.run(['fetch', image]).status).toBe(0);
  // The sandbox first: waitRunning takes the one running pod.
  sandbox = env.start(['app', 'sandbox', `--stage1-path=${systemd.aci}`], { env: EXPERIMENTS });
  running = (await env.waitRunning()).uuid;
  const added = env.run(['app', 'add', running, 'example.com/busybox', '--name=one', '--exec=/bin/sleep', '--', '1000'], { env: EXPERIMENTS });
  expect(added.status, added.stderr).toBe(0);
  const prep = env.run(['prepare', '--quiet', `--stage1-path=${fly.aci}`, 'example.com/busybox']);
  expect(prep.status, prep.stderr).toBe(0);
  prepared = prep.stdout.trim();
  const ran = env.run(['run', `--stage1-path=${fly.aci}`, 'example.com/busybox', '--exec=/bin/true']);
  expect(ran.status, ran.stderr).toBe(0);
  // The store copies the index's record of a stage1 file out of LevelDB on the first lookup that reads it there
  // (image-store's file-imports.ts, a cache): the sandbox above found its stage1 otherwise, so a refused sandbox
  // looking it up would write that copy. Made here, as any earlier sandbox of that file would have.
  const warm = env.run(['app', 'sandbox', `--stage1-path=${systemd.aci}`, '--uuid-file-save=/nonexistent/uuid'], { env: EXPERIMENTS });
  expect(warm.status, warm.stderr).toBe(254);
  const pods = JSON.parse(env.run(['list', '--format=json']).stdout) as { name: string; state: string }[];
  exited = pods.find((p) => p.state === 'exited')!.name;
  expect(pods.map((p) => p.state).sort()).toEqual(['exited', 'prepared', 'running']);
}, 600_000);

afterAll(async () => {
  if (env === undefined) return;
  if (sandbox !== undefined && running !== undefined) {
    env.run(['stop', running]);
    await Promise.race([sandbox.done, new Promise((r) => setTimeout(r, 20_000))]);
  }
  env.run(['gc', '--grace-period=0s', '--expire-prepared=0s']);
  await env.cleanup();
}, 120_000);

const NONE = 'ffffffff';

describe('rkt app (RKT_EXPERIMENT_APP=true)', () => {
  it('app add: bad arguments, flags and values are one line naming them; the pod and the store unchanged', async () => {
    const add = (...rest: string[]) => ['app', 'add', running, 'example.com/busybox', ...rest];
    const usage = '(run "rkt help app add" for usage)';
    const mnt = (value: string, why: string): Case => ({ args: add('--name=two', `--mnt-volume=${value}`), line: `app add: --mnt-volume ${JSON.stringify(value)}: ${why}` });
    await sweep([
      { args: ['app', 'add'], line: `app add: needs at least 2 arguments (UUID IMAGE [--name=NAME] [--exec=CMD] [APP FLAGS] [-- ARG...]) ${usage}` },
      { args: ['app', 'add', running], line: `app add: needs at least 2 arguments (UUID IMAGE [--name=NAME] [--exec=CMD] [APP FLAGS] [-- ARG...]) ${usage}` },
      { args: add('extra'), line: `app add: must give the pod UUID and one IMAGE (arguments of the app after "--") ${usage}` },
      { args: add('--nope'), line: `app add: unknown flag: --nope ${usage}` },
      { args: ['app', 'add', '--nope', running, 'example.com/busybox'], line: `app add: unknown flag: --nope ${usage}` },
      // rkt's app add had none of these: unknown here too.
      { args: add('--set-env=A=b'), line: `app add: unknown flag: --set-env ${usage}` },
      { args: add('--mount=volume=v,target=/x'), line: `app add: unknown flag: --mount ${usage}` },
      { args: add('--exec'), line: `app add: flag needs an argument: --exec ${usage}` },
      { args: add('--name=Bad'), line: 'app add: app name "Bad" is not a valid AC Name (lowercase a-z, 0-9 and -)' },
      { args: add('--name=one'), line: `app add: pod ${running} already has an app named "one": give another with --name` },
      { args: add('--name=two', '--stdin=weird'), line: 'app add: --stdin=weird: invalid stdin mode "weird" (null, stream, tty)' },
      // What the running pod cannot give, refused before the store is opened (the stage1 refused it after the add).
      { args: add('--name=two', '--memory=64M'), line: 'app add: --memory=64M: needs the memory cgroup controller, which a mutable pod does not have (it starts without apps, in a cgroup layout without them)' },
      { args: add('--name=two', '--cpu=500m'), line: 'app add: --cpu=500m: needs the cpu cgroup controller, which a mutable pod does not have (it starts without apps, in a cgroup layout without them)' },
      { args: add('--name=two', '--cpu-shares=100'), line: 'app add: --cpu-shares=100: needs the cpu cgroup controller, which a mutable pod does not have (it starts without apps, in a cgroup layout without them)' },
      // The same of the image's isolators and a capability beyond nspawn's defaults: the stage1's app-add check,
      // before stage0 renders, mounts or writes anything (the stage1's app/add refused them after the add, undone).
      { args: ['app', 'add', running, 'example.com/big'], line: 'app add: stage1-systemd app/add: app big: its resource isolators (--memory, --cpu, --cpu-shares) need the memory cgroup controller, which a mutable pod does not have (it starts without apps, in a cgroup layout without them)' },
      { args: ['app', 'add', running, 'example.com/admin'], line: 'app add: stage1-systemd app/add: app admin: CAP_NET_ADMIN cannot be given in a running mutable pod: its systemd-nspawn started with its default capabilities only' },
      { args: add('--name=two', '--caps-retain=CAP_NET_ADMIN'), line: 'app add: stage1-systemd app/add: app two: CAP_NET_ADMIN cannot be given in a running mutable pod: its systemd-nspawn started with its default capabilities only' },
      { args: add('--name=two', '--memory=lots'), line: 'app add: --memory=lots: not a quantity with a unit such as 512M (suffixes m, k, M, G, T, Ki, Mi, Gi, Ti)' },
      { args: add('--name=two', '--environment=1A=x'), line: 'app add: --environment: "1A" is not an environment variable name (letters, digits, "_", "." and "-", not starting with a digit)' },
      { args: add('--name=two', '--supplementary-gids=abc'), line: 'app add: --supplementary-gids=abc: "abc" is not a group ID (0 to 4294967294)' },
      { args: add('--name=two', '--readonly-rootfs=maybe'), line: 'app add: --readonly-rootfs=maybe: must be a boolean (true or false)' },
      { args: add('--name=two', '--user-annotation=foo'), line: 'app add: --user-annotation=foo: not NAME=VALUE' },
      mnt('foo', '"foo" is not key=value'),
      mnt('name=v,=x,target=/x', '"=x" is not key=value'),
      mnt('name=v,kind=empty', 'target=PATH is required, once'),
      mnt('target=/x,kind=empty', 'name=NAME is required, once'),
      mnt('name=v,kind=host,target=/x', 'source is required for kind=host'),
      mnt('name=v,kind=host,target=/x,source=rel', 'source "rel" must be an absolute path'),
      mnt('name=v,kind=empty,target=rel', 'target "rel" must be an absolute path'),
      mnt('name=V,kind=empty,target=/x', 'volume name "V" is not a valid AC Name (lowercase a-z, 0-9 and -)'),
      mnt('name=v,kind=empty,target=/x,bogus=1', 'unknown key "bogus" (keys: kind, source, readOnly, recursive, mode, uid, gid)'),
      mnt('name=v,kind=empty,target=/x,mode=abc', 'mode must be an octal permission mode such as 0755, not "abc"'),
      mnt('name=v,kind=empty,target=/x,readOnly=maybe', 'readOnly must be true or false, not "maybe"'),
      // The pod: none, malformed, not running.
      { args: ['app', 'add', NONE, 'example.com/busybox'], line: `app add: no pod matches "${NONE}"` },
      { args: ['app', 'add', 'zz', 'example.com/busybox'], line: 'app add: "zz" is not a pod UUID or UUID prefix' },
      { args: ['app', 'add', prepared, 'example.com/busybox'], line: `app add: pod ${prepared} isn't currently running (it is prepared): cannot add an app` },
      { args: ['app', 'add', exited, 'example.com/busybox'], line: `app add: pod ${exited} isn't currently running (it is exited): cannot add an app` },
      // The image: from the store only (pull policy never), or a file.
      { args: ['app', 'add', running, 'example.com/absent'], line: 'app add: image example.com/absent,os=linux,arch=amd64 is not in the store and the pull policy is "never"' },
      { args: ['app', 'add', running, 'sha512-zz'], line: 'app add: invalid image ID "sha512-zz": expected "sha512-" and 2 to 128 lowercase hex digits' },
      { args: ['app', 'add', running, './missing.aci'], line: `app add: image file ${join(env.tmp, 'missing.aci')}: no such file` },
    ]);
  });

  it('app start/stop/rm/status/list: a missing --app, an app not in the pod, a pod that is not there or not running', async () => {
    const cases: Case[] = [];
    for (const [cmd, verb] of [['start', 'start'], ['stop', 'stop'], ['rm', 'remove']] as const) {
      const usage = `(run "rkt help app ${cmd}" for usage)`;
      cases.push(
        { args: ['app', cmd, running], line: `app ${cmd}: must give the app to act on with --app=NAME ${usage}` },
        { args: ['app', cmd, '--app=one'], line: `app ${cmd}: needs at least 1 argument (UUID --app=NAME) ${usage}` },
        { args: ['app', cmd, '--app=one', running, 'extra'], line: `app ${cmd}: takes at most 1 argument; unexpected "extra" ${usage}` },
        { args: ['app', cmd, '--app=one', '--nope', running], line: `app ${cmd}: unknown flag: --nope ${usage}` },
        { args: ['app', cmd, '--app=nope', running], line: `app ${cmd}: pod ${running} has no app "nope" (apps: one)` },
        { args: ['app', cmd, '--app=one', NONE], line: `app ${cmd}: no pod matches "${NONE}"` },
        { args: ['app', cmd, '--app=busybox', prepared], line: `app ${cmd}: pod ${prepared} isn't currently running (it is prepared): cannot ${verb} an app` },
        { args: ['app', cmd, '--app=busybox', exited], line: `app ${cmd}: pod ${exited} isn't currently running (it is exited): cannot ${verb} an app` },
      );
    }
    const status = '(run "rkt help app status" for usage)';
    const list = '(run "rkt help app list" for usage)';
    cases.push(
      { args: ['app', 'status', running], line: `app status: must give the app with --app=NAME ${status}` },
      { args: ['app', 'status', '--app=one'], line: `app status: needs at least 1 argument (UUID --app=APP_NAME [--format=json]) ${status}` },
      { args: ['app', 'status', '--app=one', running, 'extra'], line: `app status: takes at most 1 argument; unexpected "extra" ${status}` },
      // rkt's own words.
      { args: ['app', 'status', '--app=nope', running], line: 'app status: cannot find app "nope" in the pod' },
      { args: ['app', 'status', '--app=one', '--format=yaml', running], line: `app status: invalid value "yaml" for --format: allowed values: "", json, json-pretty ${status}` },
      { args: ['app', 'status', '--app=one', NONE], line: `app status: no pod matches "${NONE}"` },
      { args: ['app', 'list'], line: `app list: needs at least 1 argument (UUID) ${list}` },
      { args: ['app', 'list', running, prepared], line: `app list: takes at most 1 argument; unexpected "${prepared}" ${list}` },
      { args: ['app', 'list', '--format=yaml', running], line: `app list: invalid value "yaml" for --format: allowed values: "", json, json-pretty ${list}` },
      { args: ['app', 'list', '--format'], line: `app list: flag needs an argument: --format ${list}` },
      { args: ['app', 'list', 'zz'], line: 'app list: "zz" is not a pod UUID or UUID prefix' },
      { args: ['app', 'list', NONE], line: `app list: no pod matches "${NONE}"` },
    );
    await sweep(cases);
  });

  it('app sandbox: bad flags refused before any pod is made', async () => {
    const sb = (...flags: string[]) => ['--insecure-options=image', 'app', 'sandbox', `--stage1-path=${systemd.aci}`, ...flags];
    await sweep([
      { args: [...sb(), 'extra'], line: 'app sandbox: takes no arguments; unexpected "extra" (run "rkt help app sandbox" for usage)' },
      { args: sb('--nope'), line: 'app sandbox: unknown flag: --nope (run "rkt help app sandbox" for usage)' },
      { args: sb('--private-users=maybe'), line: 'app sandbox: invalid value "maybe" for --private-users: expected true or false (run "rkt help app sandbox" for usage)' },
      { args: sb('--port=http:80'), line: 'app sandbox: --port=http:80: must have five parts separated by colons (NAME:PROTO:PODPORT:HOSTIP:HOSTPORT)' },
      { args: sb('--port=http:tcp:80:0.0.0.0:8080'), line: "app sandbox: --port=http:tcp:80:0.0.0.0:8080: forwards a host port to a pod on a CNI network (--net=default): a pod on the host's network (--net=host, the default) has the host's ports already" },
      { args: sb('--net=none', '--port=http:tcp:80:0.0.0.0:8080'), line: 'app sandbox: --port=http:tcp:80:0.0.0.0:8080: forwards a host port to a pod on a CNI network (--net=default): a pod with --net=none has no network to forward to' },
      { args: sb('--net=,host'), line: 'app sandbox: --net=,host: netname must not be empty' },
      { args: sb('--user-annotation=x'), line: 'app sandbox: --user-annotation=x: not NAME=VALUE' },
      { args: sb('--hostname=bad host'), line: 'app sandbox: --hostname "bad host": must be DNS labels (letters, digits, inner hyphens) joined by dots' },
      { args: sb('--dns=notanip'), line: 'app sandbox: --dns=notanip: notanip is not an IP address' },
      { args: sb('--uuid-file-save=/nonexistent/uuid'), line: 'app sandbox: --uuid-file-save /nonexistent/uuid: cannot write the pod UUID: ENOENT: no such file or directory' },
      { args: ['--insecure-options=image', 'app', 'sandbox', '--stage1-path=/nonexistent'], line: 'app sandbox: stage1 image /nonexistent: no such file' },
      { args: ['--insecure-options=image', 'app', 'sandbox', `--stage1-path=${fly.aci}`], line: 'app sandbox: stage1 coreos.com/rkt/stage1-fly cannot run a mutable pod: its interface version is 4 and mutable pods need 5 with the app entrypoints (coreos.com/rkt/stage1/app/add...); use the systemd stage1' },
    ]);
  });
});

describe('rkt attach (RKT_EXPERIMENT_ATTACH=true)', () => {
  it('a missing or extra UUID, a pod not there or not running, an app not in it, a bad --mode', async () => {
    const usage = '(run "rkt help attach" for usage)';
    await sweep([
      { args: ['attach'], line: `attach: needs at least 1 argument ([--app=APPNAME] [--mode=MODE] UUID) ${usage}` },
      { args: ['attach', running, 'extra'], line: `attach: takes at most 1 argument; unexpected "extra" ${usage}` },
      { args: ['attach', '--nope', running], line: `attach: unknown flag: --nope ${usage}` },
      { args: ['attach', NONE], line: `attach: no pod matches "${NONE}"` },
      { args: ['attach', 'zz'], line: 'attach: "zz" is not a pod UUID or UUID prefix' },
      { args: ['attach', prepared], line: `attach: pod ${prepared} isn't currently running (it is prepared)` },
      { args: ['attach', exited], line: `attach: pod ${exited} isn't currently running (it is exited)` },
      { args: ['attach', '--app=nope', running], line: `attach: app "nope" is not in pod ${running} (apps: one)` },
      { args: ['attach', '--app=one', '--mode=bogus', running], line: 'attach: --mode=bogus: unknown endpoint "bogus" (list, auto, or stdin, stdout, stderr, tty, tty-in, tty-out joined by commas)' },
    ]);
  });
});

describe('rkt api-service, events, config, image verify, image rebuild-index', () => {
  it('bad arguments, flags and values are one line naming them; nothing written', async () => {
    const api = '(run "rkt help api-service" for usage)';
    await sweep([
      { args: ['api-service', 'extra'], line: `api-service: takes no arguments; unexpected "extra" ${api}` },
      { args: ['api-service', '--listen'], line: `api-service: flag needs an argument: --listen ${api}` },
      { args: ['api-service', '--listen='], line: 'api-service: --listen="": must be HOST:PORT, [IPV6]:PORT or :PORT' },
      { args: ['api-service', '--listen=nope'], line: 'api-service: --listen="nope": must be HOST:PORT, [IPV6]:PORT or :PORT' },
      { args: ['api-service', '--listen=[::1'], line: 'api-service: --listen="[::1": must be HOST:PORT, [IPV6]:PORT or :PORT' },
      { args: ['api-service', '--listen=:abc'], line: 'api-service: --listen=":abc": "abc" is not a port number (0-65535)' },
      { args: ['api-service', '--listen=127.0.0.1:99999'], line: 'api-service: --listen="127.0.0.1:99999": "99999" is not a port number (0-65535)' },
      // TEST-NET-1 (RFC 5737): never an address of this host.
      { args: ['api-service', '--listen=192.0.2.1:15441'], line: 'api-service: cannot listen on 192.0.2.1:15441: not an address of this host' },
      { args: ['events', 'extra'], line: 'events: takes no arguments; unexpected "extra" (run "rkt help events" for usage)' },
      { args: ['events', '--topic'], line: 'events: flag needs an argument: --topic (run "rkt help events" for usage)' },
      { args: ['events', '--format=yaml'], line: 'events: invalid value "yaml" for --format: allowed values: "", json (run "rkt help events" for usage)' },
      { args: ['events', '--pod=zz'], line: 'events: "zz" is not a pod UUID or UUID prefix' },
      { args: ['events', `--pod=${NONE}`], line: `events: no pod matches "${NONE}"` },
      { args: [`--system-config=${emptyConfig}`, `--local-config=${emptyConfig}`, 'events'], line: `events: no event bus is configured (name a NATS server in a file of kind "events" in ${emptyConfig}/events.d (see "rkt help events"))` },
      { args: ['config', 'extra'], line: 'config: takes no arguments; unexpected "extra" (run "rkt help config" for usage)' },
      { args: ['config', '--pretty-print=maybe'], line: 'config: invalid value "maybe" for --pretty-print: expected true or false (run "rkt help config" for usage)' },
      { args: ['image', 'verify'], line: 'image verify: needs at least 1 argument (IMAGE...) (run "rkt help image verify" for usage)' },
      { args: ['image', 'verify', '--no-repair=x', 'example.com/busybox'], line: 'image verify: invalid value "x" for --no-repair: expected true or false (run "rkt help image verify" for usage)' },
      { args: ['image', 'verify', 'sha512-zz'], line: 'image verify: invalid image ID "sha512-zz": expected "sha512-" and 2 to 128 lowercase hex digits' },
      { args: ['image', 'verify', 'example.com/absent'], line: 'image verify: no image named example.com/absent in the store' },
      { args: ['image', 'rebuild-index', 'extra'], line: 'image rebuild-index: takes no arguments; unexpected "extra" (run "rkt help image rebuild-index" for usage)' },
      { args: ['image', 'rebuild-index', '--nope'], line: 'image rebuild-index: unknown flag: --nope (run "rkt help image rebuild-index" for usage)' },
    ]);
  });
});

describe('--help on the experimental commands', () => {
  it('prints the usage on stdout and exits 0 (conventions.test.ts covers those listed without the experiments)', async () => {
    for (const cmd of [['app'], ['app', 'add'], ['app', 'list'], ['app', 'rm'], ['app', 'sandbox'], ['app', 'start'], ['app', 'status'], ['app', 'stop'], ['attach']]) {
      for (const args of [[...cmd, '--help'], ['help', ...cmd]]) {
        const r = await rkt(args);
        expect({ status: r.status, stderr: r.stderr }, args.join(' ')).toEqual({ status: 0, stderr: '' });
        expect(r.stdout, args.join(' ')).toContain(`rkt ${cmd.join(' ')}`);
      }
    }
  });
});

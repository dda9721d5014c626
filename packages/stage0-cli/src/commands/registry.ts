import { defineCommand, type CommandSpec } from '../command.js';
import { flag, type FlagSpec } from '../argv/flag-spec.js';
import { LISTING_FLAGS } from '../output/listing.js';
import { APP_FLAGS, APP_STREAM_FLAGS, MDS_FLAGS, POD_FLAGS, RUN_FLAGS } from './pods/flags.js';
import { STAGE1_FLAGS } from './pods/stage1-flags.js';
import { checkWait } from './wait-flag.js';

/** rkt fetch, also as rkt's hidden `rkt image fetch`. */
const FETCH = defineCommand({
  name: 'fetch',
  summary: 'Fetch image(s) and store them in the local store',
  description:
    'Fetches each image into the store and prints its image ID: an ACI file (or file:// URL), an https:// URL\n(http:// with --insecure-options=http), a name with labels (example.com/app:v1.0,os=linux) found through\nappc discovery, or an image ID already in the store. Each image\'s signature (the --signature=SIG given\nafter it, else FILE.aci.asc beside a file, URL.asc, or the discovered one) is checked against the trusted\nkeys (see "rkt trust"); an unsigned image is refused unless --insecure-options=image.',
  args: 'IMAGE_URL...',
  minArgs: 1,
  flags: [
    flag.bool('full', 'print the full image hash after fetching'),
    flag.string('pull-policy', 'when to fetch an image: "new" (only if not in the store), "update" (ask the server) or "never" (store only)', { default: 'update' }),
    flag.strings('signature', 'local signature file to use in validating the preceding image'),
    // Deprecated in rkt (cobra hid them and said so when given): obeyed, with that line.
    flag.bool('store-only', 'use only available images in the store (do not discover or download from remote URLs)', { hidden: true }),
    flag.bool('no-store', 'fetch images ignoring the local store', { hidden: true }),
  ],
  load: () => import('./fetch.js'),
});

/**
 * rkt's experiments (`RKT_EXPERIMENT_<NAME>`, read as Go's strconv.ParseBool): `app` turns on the `rkt app` commands,
 * `attach` the `rkt attach` command and the per-app `--stdin`, `--stdout`, `--stderr` flags of run and prepare,
 * which are otherwise unknown, as rkt's were.
 */
function experimentEnabled(name: string): boolean {
  return ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(process.env[`RKT_EXPERIMENT_${name.toUpperCase()}`] ?? '');
}

const APP_NAME_FLAG = flag.string('app', 'name of the app');

/** run's and prepare's per-app flags: rkt's, and its stream modes under RKT_EXPERIMENT_ATTACH. */
const appFlags = (): readonly FlagSpec[] => (experimentEnabled('attach') ? [...APP_FLAGS, ...APP_STREAM_FLAGS] : APP_FLAGS);

/** rkt's `rkt attach` (experimental, RKT_EXPERIMENT_ATTACH=true). */
const ATTACH = defineCommand({
  name: 'attach',
  summary: 'Attach to an app running within a rkt pod',
  description:
    'UUID should be the UUID of a running pod. --mode: "auto" (every endpoint of the app), "list" (print them),\nor endpoints joined by commas: stdin, stdout, stderr, tty, tty-in, tty-out (a tty not with streams). The app\nmust have been given stream modes ("rkt run --stdin=stream --stdout=stream IMAGE"); the attach returns when the\napp ends, and detaching (^C) leaves it running. systemd stage1 only.',
  args: '[--app=APPNAME] [--mode=MODE] UUID',
  minArgs: 1,
  maxArgs: 1,
  flags: [flag.string('app', 'name of the app to enter within the specified pod'), flag.string('mode', 'attach mode', { default: 'auto' })],
  load: () => import('./attach.js'),
});
/** `rkt status`'s and `rkt app status`'s `--format`: key=value lines unless json is asked for. */
const keyValueFormatFlag = () =>
  flag.string('format', "choose the output format, allowed format includes 'json', 'json-pretty'. If empty, then the result is printed as key value pairs", {
    choices: ['', 'json', 'json-pretty'],
    goType: 'value',
  });

/** rkt's `rkt app` (experimental, RKT_EXPERIMENT_APP=true): mutable pods whose apps come and go while they run. */
const APP = defineCommand({
  name: 'app',
  summary: 'Operate on app(s) in a pod',
  subcommands: [
    defineCommand({
      name: 'add',
      summary: 'Add an app to a pod',
      description:
        'This adds an application to a running mutable pod ("rkt app sandbox"): created, not started ("rkt app start").\nIMAGE is an image ID or name in the store, or an ACI file (with --insecure-options=image) imported as "rkt run" does.\nThe app\'s flags follow the image; arguments after "--" are appended to its exec.',
      args: 'UUID IMAGE [--name=NAME] [--exec=CMD] [APP FLAGS] [-- ARG...]',
      minArgs: 2,
      // rkt's per-app flags of `rkt run` (not --mount nor --signature: a sandbox has no volumes), the stream
      // modes among them under RKT_EXPERIMENT_ATTACH, as rkt's addAppFlags gave them to its app add.
      flags: [
        ...appFlags().filter((f) => f.name !== 'mount' && f.name !== 'signature'),
        flag.strings('mnt-volume', 'a volume of the app\'s own and its mount: name=NAME,kind=host,source=PATH,target=PATH[,readOnly=true] or name=NAME,kind=empty,target=PATH[,mode=0755,uid=0,gid=0]'),
      ],
      load: () => import('./app-add.js'),
    }),
    defineCommand({
      name: 'list',
      summary: 'List apps for the given pod',
      description: 'This only lists the name and state of the apps, app status will show more detailed info.',
      args: 'UUID',
      minArgs: 1,
      maxArgs: 1,
      flags: [...LISTING_FLAGS],
      load: () => import('./app-list.js'),
    }),
    defineCommand({
      name: 'rm',
      summary: 'Remove an app from a pod',
      description: 'Stops the app if it runs, removes its units and root filesystem from the running mutable pod, and drops it from the pod manifest.',
      args: 'UUID --app=NAME',
      minArgs: 1,
      maxArgs: 1,
      flags: [APP_NAME_FLAG],
      load: () => import('./app-rm.js'),
    }),
    defineCommand({
      name: 'sandbox',
      summary: 'Create an empty pod application sandbox',
      description: 'Initializes an empty pod having no applications, mutable: apps are added with "rkt app add" and run with\n"rkt app start" while it runs, until "rkt stop". Runs with the systemd stage1 (interface version 5).',
      maxArgs: 0,
      flags: [
        ...STAGE1_FLAGS,
        flag.string('uuid-file-save', 'write out pod UUID to specified file'),
        flag.bool('no-overlay', 'disable overlay filesystem'),
        flag.bool('private-users', 'run within user namespaces.'),
        ...RUN_FLAGS,
        // rkt's own text: the sandbox's form maps a host port to a pod port directly (no app is there to name one).
        flag.strings('port', 'ports to forward. format: "name:proto:podPort:hostIP:hostPort"'),
        flag.strings('user-annotation', "optional, set the pod's annotations in the form of key=value"),
        flag.strings('user-label', "optional, set the pod's label in the form of key=value"),
      ],
      load: () => import('./app-sandbox.js'),
    }),
    defineCommand({
      name: 'start',
      summary: 'Start an app in a pod',
      args: 'UUID --app=NAME',
      minArgs: 1,
      maxArgs: 1,
      flags: [APP_NAME_FLAG],
      load: () => import('./app-start.js'),
    }),
    defineCommand({
      name: 'status',
      summary: 'Check the status of an app in the given pod',
      description: 'This will print detailed status of an app',
      args: 'UUID --app=APP_NAME [--format=json]',
      minArgs: 1,
      maxArgs: 1,
      flags: [
        flag.string('app', 'choose app within the pod, this flag must be set'),
        keyValueFormatFlag(),
      ],
      load: () => import('./app-status.js'),
    }),
    defineCommand({
      name: 'stop',
      summary: 'Stop an app in a pod',
      args: 'UUID --app=NAME',
      minArgs: 1,
      maxArgs: 1,
      flags: [APP_NAME_FLAG],
      load: () => import('./app-stop.js'),
    }),
  ],
});

/**
 * The command table. Adding a command: write `commands/<name>.ts` exporting `run` (see
 * `CommandModule`), then add its entry here. Only the chosen command's file is ever imported.
 */
export const COMMANDS: readonly CommandSpec[] = [
  defineCommand({
    name: 'help',
    summary: 'Help about any command',
    description: 'Help provides help for any command in the application.\nSimply type rkt help [path to command] for full details.',
    args: '[command]',
    load: () => import('./help.js'),
  }),
  defineCommand({
    name: 'api-service',
    summary: 'Run API service (experimental, DO NOT USE IT)',
    description:
      "rkt's read-only gRPC API (v1alpha PublicAPI: GetInfo, ListPods, InspectPod, ListImages, InspectImage) over this\ndata directory's pods and images, until SIGINT or SIGTERM. ListenEvents relays the pod events published to\nevents.d's NATS server (UNIMPLEMENTED without one); GetLogs answers UNIMPLEMENTED.",
    args: '[--listen="localhost:15441"]',
    maxArgs: 0,
    flags: [flag.string('listen', 'address to listen on client API requests', { default: 'localhost:15441' })],
    load: () => import('./api-service.js'),
  }),
  ...(experimentEnabled('app') ? [APP] : []),
  ...(experimentEnabled('attach') ? [ATTACH] : []),
  defineCommand({
    name: 'cat-manifest',
    summary: 'Inspect and print the pod manifest',
    description: 'Print the pod manifest of a pod (a UUID or a unique prefix of one, or the UUID in --uuid-file\'s FILE,\nas "rkt run --uuid-file-save=FILE" writes it).',
    args: '--uuid-file=FILE | UUID',
    maxArgs: 1,
    flags: [flag.bool('pretty-print', 'apply indent to format the output', { default: true }), flag.string('uuid-file', 'read pod UUID from file instead of argument')],
    load: () => import('./cat-manifest.js'),
  }),
  defineCommand({
    name: 'completion',
    summary: 'Output shell completion code for the specified shell',
    description:
      'This command outputs completion code for the specified shell. The generated\ncode must be evaluated to provide interactive completion of rkt sub-commands.\nThis can be done by sourcing it from the .bash_profile.\n\nSave completion code in a home directory and then include it in .bash_profile\nscript:\n\n\t$ rkt completion bash > $HOME/.rkt.bash.inc\n\t$ printf \'\\n# rkt shell completion\\nsource "$HOME/.rkt.bash.inc"\\n\' >> $HOME/.bash_profile\n\t$ source $HOME/.bash_profile\n\nAlternatively, include the completion code directly into the launched shell:\n\n\t$ source <(rkt completion bash)\n\nOnly bash is supported, as in rkt. The script is made from this rkt\'s own command table.',
    args: 'SHELL',
    minArgs: 1,
    maxArgs: 1,
    load: () => import('./completion.js'),
  }),
  defineCommand({
    name: 'config',
    summary: 'Print configuration for each stage in JSON format',
    description:
      'The output is parsable JSON with "stage0" as key and rkt configuration entries as values: one "auth" entry\nper domain (auth.d of the system, local and user configuration directories), "paths" (the data directory\nand the stage1 images directory), "stage1" (the default stage1: the configured name and version, then the\nlocation used when that image is not in the store) and, when events.d names an event bus, "events".\nCredentials are printed as configured.',
    maxArgs: 0,
    flags: [flag.bool('pretty-print', 'apply indent to format the output', { default: true })],
    load: () => import('./config.js'),
  }),
  defineCommand({
    name: 'enter',
    summary: 'Enter the namespaces of an app within a rkt pod',
    description:
      'Runs CMD (default: /bin/bash, or /bin/sh when the app has no bash) inside an app of a running pod: its\nnamespaces, root filesystem, working directory and environment, with this terminal. The exit status is\nCMD\'s. --app is required when the pod has several apps. Flags of rkt enter come before the UUID.',
    args: 'UUID [CMD [ARGS ...]]',
    minArgs: 1,
    flags: [flag.string('app', 'name of the app to enter within the specified pod')],
    interspersed: false,
    load: () => import('./enter.js'),
  }),
  defineCommand({
    name: 'events',
    summary: 'Print pod lifecycle events as rkt processes publish them',
    description:
      'Subscribes to the event bus that events.d names (a NATS server) and prints each pod lifecycle event as it\ncomes, one a line: TIME TOPIC POD PAYLOAD (--format=json: the event\'s envelope), until interrupted. Every rkt\ncommand that changes a pod publishes there when the bus is configured, in a file such as\n/etc/rkt/events.d/nats.json: {"rktKind": "events", "rktVersion": "v1", "nats": {"servers": ["nats://127.0.0.1:4222"]}}\n(optional: "subjectPrefix" (default "rkt"), "user", "password", "token", "timeout" (default "2s")).\nTopics: pod/prepared, pod/running, app/added, app/started, app/exited, app/removed, pod/exited, pod/stopped,\npod/marked, pod/garbage-collected, pod/removed; the subject is PREFIX.KIND.ACTION.UUID.',
    maxArgs: 0,
    flags: [
      flag.string('topic', "only the topics that start with this, such as 'pod/' or 'app/exited'"),
      flag.string('pod', 'only the events of this pod (a full UUID, or a prefix of an existing pod\'s)'),
      flag.string('format', "choose the output format, allowed format includes 'json'. If empty, one line of text per event", { choices: ['', 'json'], goType: 'value' }),
    ],
    load: () => import('./events.js'),
  }),
  defineCommand({
    name: 'export',
    summary: 'Export an app from an exited pod to an ACI file',
    description:
      'UUID should be the uuid of an exited pod (or a unique prefix of one). The ACI (gzip) holds the app\'s root\nfilesystem as the app left it: the image\'s files with what the app wrote and without what it deleted, and\nnot the pod\'s volumes. Its manifest is the image\'s, without dependencies (their files are in the tree)\nnor pathWhitelist. --app is required when the pod has several apps.',
    args: '[--app=APPNAME] UUID OUTPUT_ACI_FILE',
    minArgs: 2,
    maxArgs: 2,
    flags: [flag.string('app', 'name of the app to export within the specified pod'), flag.bool('overwrite', 'overwrite output ACI')],
    load: () => import('./export.js'),
  }),
  FETCH,
  defineCommand({
    name: 'gc',
    summary: 'Garbage collect rkt pods no longer in use',
    description:
      'Exited pods are marked as garbage, then removed once marked for longer than the grace period; aborted\nprepares are removed, and prepared pods that were not run within the expiry.\nEverything a removed pod mounted is unmounted.',
    maxArgs: 0,
    flags: [
      flag.string('grace-period', 'duration to wait before discarding inactive pods from garbage', { default: '30m0s', goType: 'duration' }),
      flag.string('expire-prepared', 'duration to wait before expiring prepared pods', { default: '24h0m0s', goType: 'duration' }),
      flag.bool('mark-only', 'if set to true, then the exited/aborted pods will be moved to the garbage directories without actually deleting them, this is useful for marking the exit time of a pod'),
    ],
    load: () => import('./gc.js'),
  }),
  defineCommand({
    name: 'image',
    summary: 'Operate on image(s) in the local store',
    subcommands: [
      // rkt had `image fetch` too, hidden from the command list.
      { ...FETCH, hidden: true },
      defineCommand({
        name: 'cat-manifest',
        summary: 'Inspect and print the image manifest',
        args: 'IMAGE',
        minArgs: 1,
        maxArgs: 1,
        flags: [flag.bool('pretty-print', 'apply indent to format the output', { default: true })],
        load: () => import('./image-cat-manifest.js'),
      }),
      defineCommand({
        name: 'export',
        summary: 'Export a stored image to an ACI file',
        description: 'Writes the stored, uncompressed ACI: its sha512 is the image ID.',
        args: 'IMAGE OUTPUT_ACI_FILE',
        minArgs: 2,
        maxArgs: 2,
        flags: [flag.bool('overwrite', 'overwrite output ACI')],
        load: () => import('./image-export.js'),
      }),
      defineCommand({
        name: 'extract',
        summary: 'Extract a stored image to a directory',
        description: 'Extracts the image itself, without its dependencies (see "rkt image render").',
        args: 'IMAGE OUTPUT_DIR',
        minArgs: 2,
        maxArgs: 2,
        flags: [
          flag.bool('overwrite', 'overwrite output directory'),
          flag.bool('rootfs-only', 'extract rootfs only'),
        ],
        load: () => import('./image-extract.js'),
      }),
      defineCommand({
        name: 'gc',
        summary: 'Garbage collect local store',
        description: 'Removes rendered trees no pod uses, then images not used within the grace period and not used by a live pod.',
        maxArgs: 0,
        flags: [flag.string('grace-period', 'duration to wait since an image was last used before removing it', { default: '24h0m0s', goType: 'duration' })],
        load: () => import('./image-gc.js'),
      }),
      defineCommand({
        name: 'list',
        summary: 'List images in the local store',
        maxArgs: 0,
        flags: [
          flag.string('fields', 'comma-separated list of fields to display. Accepted values: id, name, importtime, lastused, size, latest', { default: 'id,name,size,importtime,lastused', goType: 'value' }),
          flag.string('sort', 'sort the output according to the provided comma-separated list of fields. Accepted values: id, name, importtime, lastused, size', { default: 'importtime', goType: 'value' }),
          flag.string('order', 'choose the sorting order if at least one sort field is provided (--sort). Accepted values: "asc", "desc"', { default: 'asc', choices: ['asc', 'desc'], goType: 'value' }),
          ...LISTING_FLAGS,
        ],
        load: () => import('./image-list.js'),
      }),
      defineCommand({
        name: 'rebuild-index',
        summary: 'Rebuild the image index from the images on disk',
        description:
          'Replaces the image index (cas/index, LevelDB) with a new one made from the image directories on disk,\nkeeping what can be read back of the old one: for an index reported damaged. Trees without a record\nare rendered again when next needed.',
        maxArgs: 0,
        load: () => import('./image-rebuild-index.js'),
      }),
      defineCommand({
        name: 'render',
        summary: 'Render a stored image to a directory with all its dependencies',
        args: 'IMAGE OUTPUT_DIR',
        minArgs: 2,
        maxArgs: 2,
        flags: [
          flag.bool('overwrite', 'overwrite output directory'),
          flag.bool('rootfs-only', 'render rootfs only'),
        ],
        load: () => import('./image-render.js'),
      }),
      defineCommand({
        name: 'rm',
        summary: 'Remove one or more images with the given IDs or image names from the local store',
        args: 'IMAGE...',
        minArgs: 1,
        load: () => import('./image-rm.js'),
      }),
      defineCommand({
        name: 'verify',
        summary: 'Verify stored images and the trees rendered from them',
        description: 'Checks that each stored ACI still hashes to its image ID and that its rendered trees are intact;\ndamaged trees are rendered again unless --no-repair is given.',
        args: 'IMAGE...',
        minArgs: 1,
        flags: [flag.bool('no-repair', 'report damaged trees without rendering them again')],
        load: () => import('./image-verify.js'),
      }),
    ],
  }),
  defineCommand({
    name: 'list',
    summary: 'List pods',
    maxArgs: 0,
    flags: [...LISTING_FLAGS],
    load: () => import('./list.js'),
  }),
  defineCommand({
    name: 'metadata-service',
    summary: 'Run metadata service',
    description:
      'Serves the appc metadata service until SIGTERM or SIGINT: pods register on the unix socket\n/run/rkt/metadata-svc.sock ("rkt run --mds-register"), their apps read their metadata at AC_METADATA_URL\non the TCP port.',
    maxArgs: 0,
    flags: [
      flag.int('listen-port', 'listen port', { default: 18112, min: 0, max: 65535 }),
      flag.string('mds-socket', 'the registration socket', { default: '/run/rkt/metadata-svc.sock', hidden: true }),
    ],
    load: () => import('./metadata-service.js'),
  }),
  defineCommand({
    name: 'prepare',
    summary: 'Prepare to run image(s) in a pod in rkt',
    description:
      'Image should be a path to an ACI file (with --insecure-options=image), an image ID or a name in the store.\nPrints the UUID of the prepared pod; run it with "rkt run-prepared".',
    args: 'IMAGE... [-- image-args...[---]]...',
    appArgs: true,
    flags: [...appFlags(), ...POD_FLAGS, ...STAGE1_FLAGS, flag.bool('quiet', 'suppress superfluous output on stdout, print only the UUID on success', { short: 'q' })],
    load: () => import('./prepare.js'),
  }),
  defineCommand({
    name: 'rm',
    summary: 'Remove all files and resources associated with an exited pod',
    description: 'Unlike gc, rm allows users to remove specific pods: each UUID (or unique prefix of one), or the UUID in\n--uuid-file\'s FILE, as "rkt run --uuid-file-save=FILE" writes it.',
    args: '--uuid-file=FILE | UUID ...',
    flags: [flag.string('uuid-file', 'read pod UUID from file instead of argument')],
    load: () => import('./rm.js'),
  }),
  defineCommand({
    name: 'run',
    summary: 'Run image(s) in a pod in rkt',
    description:
      'IMAGE should be a path to an ACI file (with --insecure-options=image), an image ID or a name in the store.\nPer-app flags (--exec, --name, --mount...) apply to the image before them. Arguments after "--" are appended to the\npreceding image\'s exec (or to --exec), up to a lone "---", after which images and flags are read again.\nThe exit status is the pod\'s (for fly, the app\'s), or 254 for a failure of rkt itself.',
    args: 'IMAGE [-- image-args...[---]]...',
    appArgs: true,
    flags: [...appFlags(), ...POD_FLAGS, ...STAGE1_FLAGS, ...MDS_FLAGS, ...RUN_FLAGS, flag.bool('interactive', 'run pod interactively. If true, only one image may be supplied')],
    load: () => import('./run.js'),
    loadLean: () => import('./run-lean.js'),
  }),
  defineCommand({
    name: 'run-prepared',
    summary: 'Run a prepared application pod in rkt',
    args: 'UUID',
    minArgs: 1,
    maxArgs: 1,
    flags: [...RUN_FLAGS, ...MDS_FLAGS, flag.bool('interactive', 'run pod interactively')],
    load: () => import('./run-prepared.js'),
  }),
  defineCommand({
    name: 'status',
    summary: 'Check the status of a rkt pod',
    description:
      'Prints assorted information about the pod such as its state, pid and exit status.\n\nThe --wait and --wait-ready flags accept boolean or timeout values. If set to true, wait indefinitely. If set to false,\ndon\'t wait at all. They can also be set to a duration. If the duration is less than zero, wait indefinitely. If the\nduration is zero, don\'t wait at all. A wait that times out is an error (exit 254).',
    args: '[--wait=bool|timeout] [--wait-ready=bool|timeout] UUID',
    minArgs: 1,
    maxArgs: 1,
    flags: [
      flag.string('wait', 'toggles waiting for the pod to finish. Use the output to determine the actual terminal state', { default: 'false', noOptDefault: 'true', parse: checkWait }),
      flag.string('wait-ready', 'toggles waiting until the pod is ready', { default: 'false', noOptDefault: 'true', parse: checkWait }),
      keyValueFormatFlag(),
    ],
    load: () => import('./status.js'),
  }),
  defineCommand({
    name: 'stop',
    summary: 'Stop a pod',
    args: '--uuid-file=FILE | UUID ...',
    flags: [flag.bool('force', 'forced stopping'), flag.string('uuid-file', 'read pod UUID from file instead of argument')],
    load: () => import('./stop.js'),
  }),
  defineCommand({
    name: 'trust',
    summary: 'Trust a key for image verification',
    description:
      'Adds keys to the local keystore for use in verifying signed images. With no key given, the keys the\nprefix publishes through appc discovery (ac-discovery-pubkeys) are fetched. Keys go to\n<local-config>/trustedkeys/prefix.d/<prefix>/<fingerprint>, or root.d with --root.',
    args: '[--prefix=PREFIX] [--insecure-allow-http] [--skip-fingerprint-review] [--root] [PUBKEY ...]',
    flags: [
      flag.string('prefix', 'prefix to limit trust to'),
      flag.bool('root', 'add root key from filesystem without a prefix'),
      flag.bool('skip-fingerprint-review', 'accept key without fingerprint confirmation'),
      flag.bool('insecure-allow-http', 'allow HTTP use for key discovery and/or retrieval'),
    ],
    load: () => import('./trust.js'),
  }),
  defineCommand({
    name: 'version',
    summary: 'Print the version and exit',
    description: 'Print the version of rkt, and various build and configuration information.',
    maxArgs: 0,
    load: () => import('./version.js'),
  }),
];

export const ROOT: CommandSpec = {
  name: 'rkt',
  summary: 'rkt, the application container runner',
  description: 'A CLI for running app containers on Linux.\n\nTo get the help on any specific command, run "rkt help command".',
  subcommands: COMMANDS,
};

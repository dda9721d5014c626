/** ace.md: the PATH an app gets when neither its image nor the user sets one (also in native/fly-run.c). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

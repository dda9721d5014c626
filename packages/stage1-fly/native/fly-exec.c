/*
 * fly-exec: the one step of the fly stage1 that Node cannot do. It runs an app the way the pod
 * manifest says, in a private mount namespace, chrooted into the app's root filesystem:
 *
 *   fly-exec ROOTFS UID GID GROUPS CWD -- PROGRAM [ARG...]
 *
 * GROUPS is a comma-separated list of supplementary GIDs, or "-" for none. The environment is the
 * app's, exactly as given (the caller builds it). It never forks: the app keeps this pid, so the pid
 * the caller records is the app's, and the file descriptors the caller handed down (the pod lock)
 * stay open in the app for as long as it lives.
 *
 * Every failure is one line on stderr naming what failed, and exit status 254 (rkt's own failure).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

extern char **environ;

static void die(const char *what, const char *subject) {
  fprintf(stderr, "fly-exec: %s %s: %s\n", what, subject, strerror(errno));
  exit(254);
}

static void usage(void) {
  fprintf(stderr, "fly-exec: usage: fly-exec ROOTFS UID GID GROUPS CWD -- PROGRAM [ARG...]\n");
  exit(254);
}

static unsigned long parse_id(const char *s, const char *what) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno != 0 || *s == '\0' || *end != '\0' || v > 0xfffffffeUL) {
    fprintf(stderr, "fly-exec: invalid %s %s\n", what, s);
    exit(254);
  }
  return v;
}

/* Creates ROOTFS/NAME as a directory when the image lacks it (the rootfs is the pod's own copy or upper dir). */
static void ensure_dir(const char *rootfs, const char *name, char *out) {
  if (snprintf(out, PATH_MAX, "%s/%s", rootfs, name) >= PATH_MAX) {
    errno = ENAMETOOLONG;
    die("cannot use", rootfs);
  }
  if (mkdir(out, 0755) != 0 && errno != EEXIST) die("cannot create", out);
}

int main(int argc, char **argv) {
  if (argc < 8 || strcmp(argv[6], "--") != 0) usage();
  const char *rootfs = argv[1];
  uid_t uid = (uid_t)parse_id(argv[2], "uid");
  gid_t gid = (gid_t)parse_id(argv[3], "gid");
  const char *groups_arg = argv[4];
  const char *cwd = argv[5];
  char **app_argv = &argv[7];

  gid_t groups[NGROUPS_MAX];
  size_t ngroups = 0;
  if (strcmp(groups_arg, "-") != 0) {
    char *copy = strdup(groups_arg);
    if (copy == NULL) die("cannot allocate", "groups");
    for (char *tok = strtok(copy, ","); tok != NULL; tok = strtok(NULL, ",")) {
      if (ngroups == NGROUPS_MAX) {
        fprintf(stderr, "fly-exec: too many supplementary groups\n");
        exit(254);
      }
      groups[ngroups++] = (gid_t)parse_id(tok, "supplementary gid");
    }
    free(copy);
  }

  /* The mounts below must vanish with the app, and never propagate back to the host. */
  if (unshare(CLONE_NEWNS) != 0) die("cannot unshare", "the mount namespace");
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) die("cannot make private", "/");

  char target[PATH_MAX];
  ensure_dir(rootfs, "proc", target);
  if (mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) die("cannot mount proc on", target);
  ensure_dir(rootfs, "sys", target);
  if (mount("/sys", target, NULL, MS_BIND | MS_REC, NULL) != 0) die("cannot bind /sys on", target);
  ensure_dir(rootfs, "dev", target);
  if (mount("/dev", target, NULL, MS_BIND | MS_REC, NULL) != 0) die("cannot bind /dev on", target);

  if (chdir(rootfs) != 0) die("cannot enter", rootfs);
  if (chroot(".") != 0) die("cannot chroot into", rootfs);
  if (chdir(cwd) != 0) die("cannot change to the working directory", cwd);

  /* Groups before the gid, the gid before the uid: each step needs the privilege the next drops. */
  if (setgroups(ngroups, groups) != 0) die("cannot set", "the supplementary groups");
  if (setgid(gid) != 0) die("cannot set gid", argv[3]);
  if (setuid(uid) != 0) die("cannot set uid", argv[2]);

  /*
   * Changing credentials clears the parent-death signal, so it is set last: if the stage1 that
   * waits for this app is killed, the app goes too, as rkt's app died with rkt (it was one process).
   */
  pid_t parent = getppid();
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) die("cannot set", "the parent-death signal");
  if (getppid() != parent) exit(254);

  execve(app_argv[0], app_argv, environ);
  die("cannot execute", app_argv[0]);
  return 254;
}

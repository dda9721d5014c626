/*
 * The few Linux system calls rkt-ts needs and Node lacks, as a Node-API addon: flock(2) for pod locks,
 * mount(2), umount2(2) and idmapped bind mounts (open_tree(2), mount_setattr(2)) for app root filesystems, and posix_spawn(3) + waitpid(2) (with pipe2(2) and
 * unix sockets for their streams) for the processes a pod runs in. Without it, each was a fork and exec of util-linux's
 * flock, mount or umount: a fork of a Node process copies its page tables (3-9 ms here), and mount(8)
 * loads libmount on top. Node's own
 * child_process forks too (posix_spawn uses CLONE_VFORK, sharing the memory instead), and loading it
 * pulls in net and the streams, about 4 ms of a start.
 *
 * Errors are thrown as JavaScript Errors carrying `code` (the errno name, as Node's own fs errors do) and
 * `errno`, so that callers keep matching codes rather than messages.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <pthread.h>
#include <sched.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <dlfcn.h>
#include <node_api.h>
#include <uv.h>

extern char **environ;

#define CHECK(call)                                                                                                   \
  do {                                                                                                                \
    if ((call) != napi_ok) {                                                                                          \
      napi_throw_error(env, "RKT_SYS", "rkt-sys: Node-API call failed: " #call);                                      \
      return NULL;                                                                                                    \
    }                                                                                                                 \
  } while (0)

/* glibc 2.32+ names errnos ("ENOENT"); Node's own fs errors carry the same names as `code`. */
static const char *errno_name(int e) {
  const char *name = strerrorname_np(e);
  return name != NULL ? name : "EUNKNOWN";
}

/* Throws `<syscall> <subject>: <strerror>` with code and errno set; returns NULL for the caller to return. */
static napi_value throw_errno(napi_env env, int e, const char *syscall, const char *subject) {
  char message[4200];
  snprintf(message, sizeof message, "%s %s: %s", syscall, subject, strerror(e));
  napi_value msg, err, code, num;
  if (napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg) != napi_ok) return NULL;
  if (napi_create_error(env, NULL, msg, &err) != napi_ok) return NULL;
  if (napi_create_string_utf8(env, errno_name(e), NAPI_AUTO_LENGTH, &code) == napi_ok) napi_set_named_property(env, err, "code", code);
  if (napi_create_int32(env, -e, &num) == napi_ok) napi_set_named_property(env, err, "errno", num);
  if (napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &code) == napi_ok) napi_set_named_property(env, err, "syscall", code);
  napi_throw(env, err);
  return NULL;
}

/* A string argument, or NULL for null/undefined; malloc'd (the caller frees). Sets *ok to 0 on a type error. */
static char *string_arg(napi_env env, napi_value v, int *ok) {
  napi_valuetype t;
  *ok = 0;
  if (napi_typeof(env, v, &t) != napi_ok) return NULL;
  if (t == napi_null || t == napi_undefined) {
    *ok = 1;
    return NULL;
  }
  if (t != napi_string) return NULL;
  size_t len;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  if (s == NULL) return NULL;
  if (napi_get_value_string_utf8(env, v, s, len + 1, &len) != napi_ok) {
    free(s);
    return NULL;
  }
  if (strlen(s) != len) { /* an embedded NUL would silently cut a path short */
    free(s);
    return NULL;
  }
  *ok = 1;
  return s;
}

/*
 * The arguments (string, number) of umount and listenUnix: the string (malloc'ed: the caller frees it), or NULL
 * after a TypeError naming `usage` has been thrown.
 */
static char *string_and_int_args(napi_env env, napi_callback_info info, int32_t *n, const char *usage) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) argc = 0;
  int ok = 0;
  char *s = argc == 2 ? string_arg(env, argv[0], &ok) : NULL;
  if (argc != 2 || !ok || s == NULL || napi_get_value_int32(env, argv[1], n) != napi_ok) {
    free(s);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", usage);
    return NULL;
  }
  return s;
}

/* flock(fd, exclusive, nonblocking) -> true when taken, false when another holder has it (nonblocking). */
static napi_value js_flock(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  bool exclusive, nonblock;
  if (argc != 3 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_bool(env, argv[1], &exclusive) != napi_ok ||
      napi_get_value_bool(env, argv[2], &nonblock) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "flock(fd: number, exclusive: boolean, nonblocking: boolean)");
    return NULL;
  }
  int r;
  do r = flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | (nonblock ? LOCK_NB : 0));
  while (r != 0 && errno == EINTR);
  napi_value result;
  if (r == 0 || errno == EWOULDBLOCK) {
    CHECK(napi_get_boolean(env, r == 0, &result));
    return result;
  }
  char subject[32];
  snprintf(subject, sizeof subject, "fd %d", fd);
  return throw_errno(env, errno, "flock", subject);
}

/* pipe() -> [readFd, writeFd], both close-on-exec: a child gets an end only through spawn's fds. */
static napi_value js_pipe(napi_env env, napi_callback_info info) {
  (void)info;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return throw_errno(env, errno, "pipe2", "");
  napi_value result, r, w;
  if (napi_create_array_with_length(env, 2, &result) != napi_ok || napi_create_int32(env, fds[0], &r) != napi_ok ||
      napi_create_int32(env, fds[1], &w) != napi_ok || napi_set_element(env, result, 0, r) != napi_ok || napi_set_element(env, result, 1, w) != napi_ok) {
    close(fds[0]);
    close(fds[1]);
    napi_throw_error(env, "RKT_SYS", "rkt-sys: Node-API call failed in pipe");
    return NULL;
  }
  return result;
}

/*
 * listenUnix(path, backlog) -> fd: a unix stream socket bound at path (relative to the working directory) and
 * listening, close-on-exec, for a server to take over later (net.Server.listen({ fd })): the socket exists,
 * and connections queue, from this call on.
 */
static napi_value js_listen_unix(napi_env env, napi_callback_info info) {
  int32_t backlog = 0;
  char *path = string_and_int_args(env, info, &backlog, "listenUnix(path: string, backlog: number)");
  if (path == NULL) return NULL;
  napi_value result = NULL;
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof addr.sun_path) {
    throw_errno(env, ENAMETOOLONG, "bind", path);
  } else {
    memcpy(addr.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      throw_errno(env, errno, "socket", path);
    } else if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, backlog) != 0) {
      int e = errno;
      close(fd);
      throw_errno(env, e, "listen", path);
    } else if (napi_create_int32(env, fd, &result) != napi_ok) {
      close(fd);
      result = NULL;
      napi_throw_error(env, "RKT_SYS", "rkt-sys: Node-API call failed in listenUnix");
    }
  }
  free(path);
  return result;
}

/*
 * openPty() -> { master, slave, path }: a new pseudo-terminal of the host's devpts, unlocked, both ends open
 * close-on-exec and not made anyone's controlling terminal. Node has no openpty, and unlocking the pair
 * (TIOCSPTLCK) takes an ioctl: rkt's ttymux gives an app the slave (stage1-systemd binds `path` into the pod)
 * and keeps the master. Holding the slave too keeps the master readable between the app's openings of it.
 */
static napi_value js_open_pty(napi_env env, napi_callback_info info) {
  (void)info;
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) return throw_errno(env, errno, "posix_openpt", "/dev/ptmx");
  char name[128];
  if (grantpt(master) != 0 || unlockpt(master) != 0 || ptsname_r(master, name, sizeof name) != 0) {
    int e = errno;
    close(master);
    return throw_errno(env, e, "unlockpt", "/dev/ptmx");
  }
  int slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) {
    int e = errno;
    close(master);
    return throw_errno(env, e, "open", name);
  }
  napi_value result, m, s, path;
  if (napi_create_object(env, &result) != napi_ok || napi_create_int32(env, master, &m) != napi_ok || napi_create_int32(env, slave, &s) != napi_ok ||
      napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &path) != napi_ok || napi_set_named_property(env, result, "master", m) != napi_ok ||
      napi_set_named_property(env, result, "slave", s) != napi_ok || napi_set_named_property(env, result, "path", path) != napi_ok) {
    close(master);
    close(slave);
    napi_throw_error(env, "RKT_SYS", "rkt-sys: Node-API call failed in openPty");
    return NULL;
  }
  return result;
}

/* ptyResize(fd, rows, cols): TIOCSWINSZ, the terminal's size (its foreground process group gets SIGWINCH). */
static napi_value js_pty_resize(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  uint32_t fd = 0, rows = 0, cols = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3 || napi_get_value_uint32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_uint32(env, argv[1], &rows) != napi_ok || napi_get_value_uint32(env, argv[2], &cols) != napi_ok || rows > 0xffff || cols > 0xffff) {
    napi_throw_type_error(env, NULL, "usage: ptyResize(fd: number, rows: number, cols: number)");
    return NULL;
  }
  struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
  if (ioctl((int)fd, TIOCSWINSZ, &ws) != 0) return throw_errno(env, errno, "ioctl", "TIOCSWINSZ");
  return NULL;
}

/* mount(source, target, fstype, flags, data): mount(2) as is; null for an unused string. */
static napi_value js_mount(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int ok[4] = {0, 0, 0, 0};
  int64_t flags = 0;
  char *source = NULL, *target = NULL, *fstype = NULL, *data = NULL;
  napi_value result = NULL;
  if (argc == 5) {
    source = string_arg(env, argv[0], &ok[0]);
    target = string_arg(env, argv[1], &ok[1]);
    fstype = string_arg(env, argv[2], &ok[2]);
    data = string_arg(env, argv[4], &ok[3]);
  }
  if (argc != 5 || !ok[0] || !ok[1] || target == NULL || !ok[2] || !ok[3] || napi_get_value_int64(env, argv[3], &flags) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "mount(source: string|null, target: string, fstype: string|null, flags: number, data: string|null)");
  } else if (mount(source, target, fstype, (unsigned long)flags, data) != 0) {
    throw_errno(env, errno, "mount", target);
  } else {
    napi_get_undefined(env, &result);
  }
  free(source);
  free(target);
  free(fstype);
  free(data);
  return result;
}

/* umount2(target, flags). */
static napi_value js_umount(napi_env env, napi_callback_info info) {
  int32_t flags = 0;
  char *target = string_and_int_args(env, info, &flags, "umount(target: string, flags: number)");
  if (target == NULL) return NULL;
  napi_value result = NULL;
  if (umount2(target, flags) != 0) {
    throw_errno(env, errno, "umount", target);
  } else {
    napi_get_undefined(env, &result);
  }
  free(target);
  return result;
}

/*
 * A user namespace that maps IDs 0..count-1 to the host's shift..shift+count-1, as an fd (the
 * mount_setattr(2) attribute an idmapped mount needs): a child that only waits is cloned into a new user
 * namespace, its maps written from here, its namespace opened, and the child ended. The child runs no
 * library code (a clone of a threaded process: only read and _exit).
 */
static int userns_fd(uint32_t shift, uint32_t count, const char **failed) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return *failed = "pipe2", -1;
  pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);
  if (pid == 0) {
    char c;
    close(p[1]);
    while (read(p[0], &c, 1) < 0 && errno == EINTR) {
    }
    _exit(0);
  }
  int saved = 0, fd = -1;
  if (pid < 0) {
    saved = errno;
    *failed = "clone";
  } else {
    char path[64], map[64];
    int len = snprintf(map, sizeof map, "0 %u %u\n", shift, count);
    const char *files[2] = {"uid_map", "gid_map"};
    for (int i = 0; i < 2 && saved == 0; i++) {
      snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, files[i]);
      int m = open(path, O_WRONLY | O_CLOEXEC);
      if (m < 0 || write(m, map, (size_t)len) != len) saved = errno, *failed = files[i];
      if (m >= 0) close(m);
    }
    if (saved == 0) {
      snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
      fd = open(path, O_RDONLY | O_CLOEXEC);
      if (fd < 0) saved = errno, *failed = "open user namespace";
    }
  }
  close(p[0]);
  close(p[1]);
  if (pid > 0) {
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
  }
  errno = saved;
  return fd;
}

/*
 * idmapBind(source, target, shift, count): a bind mount of source at target (not its submounts) whose files'
 * owners appear shifted by `shift` (an owner k < count of the file system as shift + k; others as the
 * overflow ID), through open_tree(2), mount_setattr(2) with MOUNT_ATTR_IDMAP and move_mount(2). The file
 * system under source must support idmapped mounts (ext4, xfs, btrfs, tmpfs; not overlayfs: EINVAL).
 */
static napi_value js_idmap_bind(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int ok[2] = {0, 0};
  uint32_t shift = 0, count = 0;
  char *source = NULL, *target = NULL;
  napi_value result = NULL;
  if (argc == 4) {
    source = string_arg(env, argv[0], &ok[0]);
    target = string_arg(env, argv[1], &ok[1]);
  }
  if (argc != 4 || !ok[0] || !ok[1] || source == NULL || target == NULL || napi_get_value_uint32(env, argv[2], &shift) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &count) != napi_ok || count == 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "idmapBind(source: string, target: string, shift: number, count: number > 0)");
  } else {
    const char *failed = NULL;
    int ns = userns_fd(shift, count, &failed);
    int tree = -1;
    if (ns >= 0) {
      tree = open_tree(AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
      if (tree < 0) failed = "open_tree";
    }
    if (tree >= 0) {
      struct mount_attr attr;
      memset(&attr, 0, sizeof attr);
      attr.attr_set = MOUNT_ATTR_IDMAP;
      attr.userns_fd = (uint64_t)ns;
      if (mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof attr) != 0) failed = "mount_setattr";
      else if (move_mount(tree, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) != 0) failed = "move_mount";
      else failed = NULL;
    }
    int saved = errno;
    if (tree >= 0) close(tree);
    if (ns >= 0) close(ns);
    if (failed != NULL) throw_errno(env, saved, failed, strcmp(failed, "open_tree") == 0 ? source : target);
    else napi_get_undefined(env, &result);
  }
  free(source);
  free(target);
  return result;
}

static void free_strings(char **v) {
  if (v == NULL) return;
  for (char **p = v; *p != NULL; p++) free(*p);
  free(v);
}

/* A NULL-terminated copy of an array of strings; NULL (with *ok = 1) for null/undefined. */
static char **strings_arg(napi_env env, napi_value v, int *ok) {
  napi_valuetype t;
  bool is_array;
  uint32_t n;
  *ok = 0;
  if (napi_typeof(env, v, &t) != napi_ok) return NULL;
  if (t == napi_null || t == napi_undefined) {
    *ok = 1;
    return NULL;
  }
  if (napi_is_array(env, v, &is_array) != napi_ok || !is_array || napi_get_array_length(env, v, &n) != napi_ok) return NULL;
  char **out = calloc(n + 1, sizeof *out);
  if (out == NULL) return NULL;
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    int e_ok;
    if (napi_get_element(env, v, i, &e) != napi_ok || (out[i] = string_arg(env, e, &e_ok)) == NULL) {
      free_strings(out);
      return NULL;
    }
  }
  *ok = 1;
  return out;
}

/* The (file, argv, envp | null, cwd | null, fds) that spawn and exec share. */
struct process_args {
  char *file;
  char **args;
  char **envp;
  char *cwd;
  int fds[64];
  uint32_t nfds;
};

static void free_process_args(struct process_args *p) {
  free(p->file);
  free(p->cwd);
  free_strings(p->args);
  free_strings(p->envp);
}

/* Reads argv[0..4] into *p: 1 when each is of its type (the caller then frees *p), else 0 with *p freed. */
static int read_process_args(napi_env env, const napi_value *argv, struct process_args *p) {
  int ok[4] = {0, 0, 0, 0};
  bool is_array = false;
  p->file = string_arg(env, argv[0], &ok[0]);
  p->args = strings_arg(env, argv[1], &ok[1]);
  p->envp = strings_arg(env, argv[2], &ok[2]);
  p->cwd = string_arg(env, argv[3], &ok[3]);
  p->nfds = 0;
  int bad = !ok[0] || p->file == NULL || !ok[1] || p->args == NULL || !ok[2] || !ok[3] || napi_is_array(env, argv[4], &is_array) != napi_ok || !is_array ||
            napi_get_array_length(env, argv[4], &p->nfds) != napi_ok || p->nfds > 64;
  for (uint32_t i = 0; !bad && i < p->nfds; i++) {
    napi_value e;
    bad = napi_get_element(env, argv[4], i, &e) != napi_ok || napi_get_value_int32(env, e, &p->fds[i]) != napi_ok || p->fds[i] < 0;
  }
  if (bad) free_process_args(p);
  return !bad;
}

/*
 * Gives each of fds[0..n) a close-on-exec copy above n + 2, into temps, so that no dup2 onto target i clobbers a
 * source still to be copied, and dup2 of fd i onto itself (a no-op that would keep close-on-exec) never
 * happens. Returns how many were copied: fewer than n when a copy failed (errno set).
 */
static uint32_t copy_above(const int *fds, uint32_t n, int *temps) {
  uint32_t i = 0;
  for (; i < n; i++) {
    temps[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, (int)n + 3);
    if (temps[i] < 0) break;
  }
  return i;
}

/*
 * spawn(file, argv, envp | null, cwd | null, fds, newSession, newProcessGroup) -> pid. The child's fd i is
 * fds[i] of this process (0, 1, 2 for a shared stdio), every other descriptor of Node's is close-on-exec;
 * its signal mask is empty and every signal has its default action (Node ignores SIGPIPE, which an exec
 * would otherwise pass on). An exec failure is the call's error, with its errno as code.
 */
static napi_value js_spawn(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct process_args p;
  int temps[64];
  bool new_session = false, new_pgroup = false;
  napi_value result = NULL;
  if (argc != 7 || !read_process_args(env, argv, &p)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                          "spawn(file: string, argv: string[], env: string[]|null, cwd: string|null, fds: number[], newSession: boolean, newProcessGroup: boolean)");
    return NULL;
  }
  if (napi_get_value_bool(env, argv[5], &new_session) != napi_ok || napi_get_value_bool(env, argv[6], &new_pgroup) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                          "spawn(file: string, argv: string[], env: string[]|null, cwd: string|null, fds: number[], newSession: boolean, newProcessGroup: boolean)");
    free_process_args(&p);
    return NULL;
  }
  uint32_t ntemps = copy_above(p.fds, p.nfds, temps);
  if (ntemps < p.nfds) {
    char subject[32];
    snprintf(subject, sizeof subject, "fd %d", p.fds[ntemps]);
    throw_errno(env, errno, "spawn", subject);
  } else {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    for (uint32_t i = 0; i < p.nfds; i++) posix_spawn_file_actions_adddup2(&actions, temps[i], (int)i);
    if (p.cwd != NULL) posix_spawn_file_actions_addchdir_np(&actions, p.cwd);
    short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
    if (new_session) flags |= POSIX_SPAWN_SETSID;
    else if (new_pgroup) flags |= POSIX_SPAWN_SETPGROUP;
    posix_spawnattr_setflags(&attr, flags);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setpgroup(&attr, 0);
    pid_t pid;
    char **envp = p.envp != NULL ? p.envp : environ;
    int e = strchr(p.file, '/') != NULL ? posix_spawn(&pid, p.file, &actions, &attr, p.args, envp) : posix_spawnp(&pid, p.file, &actions, &attr, p.args, envp);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (e != 0) throw_errno(env, e, "spawn", p.file);
    else napi_create_int32(env, pid, &result);
  }
  for (uint32_t i = 0; i < ntemps; i++) close(temps[i]);
  free_process_args(&p);
  return result;
}

/*
 * The keeper: a process that shares this one's memory (CLONE_VM) and outlives its exec, so that tearing down
 * Node's address space (its heaps, code and thread stacks: the exec into fly took 2.2-2.8 ms with it, 0.5-0.7
 * ms without) happens when the keeper exits instead of inside the execve that starts the new program: the
 * kernel frees an address space with its last user. It waits on a pipe whose write end this process holds
 * close-on-exec (the keeper closes its own copy first), so the exec is its end of file. It then waits for the
 * new program to end, KEEPER_LINGER_MS at most: the teardown (3-6 ms of page-table work on a VM whose page
 * tables the host shadows) run beside the new program's start held that start back by about as long (fly's
 * app process was first scheduled 2-6 ms after fly started it; fly `rkt run`s 94.1 -> 91.5 ms interleaved;
 * SCHED_IDLE instead of nice 19 got half of it). A short pod has then ended; a long one's start is behind
 * it. Every signal is blocked in it, it makes raw system calls only, on a stack of its own, and touches
 * nothing of Node's but the static below; it runs at the lowest priority (nice 19), or, started on this CPU,
 * it would hold it while the new program waits.
 *
 * It is a grandchild: a first clone starts it and exits at once, and is reaped here, so the keeper is an
 * orphan that init (or the nearest subreaper) reaps, and the new program has no child it did not make.
 */
#define KEEPER_STACK (16 * 1024)
/* The longest the keeper holds Node's memory after the exec: a short pod's whole life (a fly pod of `true`
 * takes ~10 ms here), and nothing next to a long one's. */
#define KEEPER_LINGER_MS 100
/* The process that execs, written before the keeper starts; the keeper reads it in the memory it shares. */
static pid_t keeper_target;

static int keeper_main(void *arg) {
  unsigned int rfd = (unsigned int)((intptr_t)arg >> 32);
  char c;
  /* Nothing of Node's but its memory: a descriptor kept here would keep, e.g., the pod's lock held after the
   * pod's process exited. Without close_range (Linux < 5.9) there is no keeper: the exec pays the teardown. */
  if ((rfd > 0 && syscall(SYS_close_range, 0U, rfd - 1, 0U) != 0) || syscall(SYS_close_range, rfd + 1, ~0U, 0U) != 0) syscall(SYS_exit, 0);
  syscall(SYS_setpriority, PRIO_PROCESS, 0, 19);
  /* Nor its working directory: the exec's (a pod's directory) would stay busy while the keeper waits. */
  syscall(SYS_chdir, "/");
  /* Opened before the exec, while the pid is surely that process's. Without pidfds (Linux < 5.3) the keeper
   * exits at the exec, as it did before it waited. */
  long pidfd = -1;
#ifdef SYS_pidfd_open
  pidfd = syscall(SYS_pidfd_open, keeper_target, 0U);
#endif
  syscall(SYS_read, rfd, &c, 1);
  if (pidfd >= 0) {
    /* Readable once the process has ended; a failed exec (the write end closed) waits out the timeout. */
    struct pollfd pfd = { .fd = (int)pidfd, .events = POLLIN };
    struct timespec linger = { .tv_sec = KEEPER_LINGER_MS / 1000, .tv_nsec = (KEEPER_LINGER_MS % 1000) * 1000000L };
    syscall(SYS_ppoll, &pfd, 1UL, &linger, NULL, 0UL);
  }
  syscall(SYS_exit, 0);
  return 0;
}

struct keeper_start {
  intptr_t fds;
  void *stack;
};

static int keeper_parent_main(void *arg) {
  const struct keeper_start *ks = arg;
  clone(keeper_main, (char *)ks->stack + KEEPER_STACK, CLONE_VM, (void *)ks->fds);
  syscall(SYS_exit, 0);
  return 0;
}

/* Starts the keeper; returns the write end of its pipe (close it if the exec fails), or -1 without one. */
static int start_keeper(void) {
#if INTPTR_MAX < INT64_MAX
  return -1; /* the two descriptors travel in the keeper's pointer argument */
#endif
  int p[2];
  keeper_target = getpid();
  if (pipe2(p, O_CLOEXEC) != 0) return -1;
  /* Two stacks, never unmapped here: the keeper's is in use until it exits, and it goes with the memory. */
  char *stacks = mmap(NULL, 2 * KEEPER_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stacks == MAP_FAILED) {
    close(p[0]);
    close(p[1]);
    return -1;
  }
  struct keeper_start ks = {((intptr_t)p[0] << 32) | (intptr_t)p[1], stacks + KEEPER_STACK};
  sigset_t all, prev;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &prev);
  pid_t first = clone(keeper_parent_main, stacks + KEEPER_STACK, CLONE_VM, &ks);
  pthread_sigmask(SIG_SETMASK, &prev, NULL);
  if (first > 0)
    while (waitpid(first, NULL, __WALL) < 0 && errno == EINTR) {
    }
  close(p[0]);
  if (first < 0) {
    close(p[1]);
    munmap(stacks, 2 * KEEPER_STACK);
    return -1;
  }
  return p[1];
}

/*
 * exec(file, argv, envp | null, cwd | null, fds): replaces this process with `file` (execve(2)), as rkt's stage0
 * replaced itself with the stage1's run entrypoint. The new program's fd i is fds[i] of this process, every
 * other descriptor of Node's is close-on-exec; its working directory is `cwd`, its signal mask is empty and
 * no signal is ignored (Node ignores SIGPIPE and SIGXFSZ, which an exec would pass on). Returns only when the
 * exec failed: it then throws, with the errno as code, after putting this process back as it was (its
 * descriptors, working directory, signal mask and ignored signals), so that its caller can report the error.
 */
static napi_value js_exec(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct process_args p;
  if (argc != 5 || !read_process_args(env, argv, &p)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "exec(file: string, argv: string[], env: string[]|null, cwd: string|null, fds: number[])");
    return NULL;
  }
  int temps[64], saved[64], saved_fd_flags[64];
  uint32_t nsaved = 0;
  int old_cwd = -1;
  bool duped = false;
  const char *failed = "exec";
  const char *subject = p.file;
  char fd_subject[32];
  int e = 0;
  uint32_t ntemps = copy_above(p.fds, p.nfds, temps);
  if (ntemps < p.nfds) {
    e = errno;
    snprintf(fd_subject, sizeof fd_subject, "fd %d", p.fds[ntemps]);
    subject = fd_subject;
    goto restore;
  }
  if (p.cwd != NULL) {
    old_cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (old_cwd < 0 || chdir(p.cwd) != 0) {
      e = errno;
      failed = "chdir";
      subject = p.cwd;
      goto restore;
    }
  }
  /* What occupies the targets now (Node's own descriptors, close-on-exec), kept to be put back on failure. */
  for (; nsaved < p.nfds; nsaved++) {
    saved_fd_flags[nsaved] = fcntl((int)nsaved, F_GETFD);
    saved[nsaved] = saved_fd_flags[nsaved] < 0 ? -1 : fcntl((int)nsaved, F_DUPFD_CLOEXEC, (int)p.nfds + 3);
    if (saved_fd_flags[nsaved] >= 0 && saved[nsaved] < 0) {
      e = errno;
      snprintf(fd_subject, sizeof fd_subject, "fd %u", nsaved);
      subject = fd_subject;
      goto restore;
    }
  }
  /* dup2 clears close-on-exec on the target; from here on, failing means undoing this. */
  for (uint32_t i = 0; i < p.nfds; i++) dup2(temps[i], (int)i);
  duped = true;
  sigset_t none, old_mask;
  sigemptyset(&none);
  pthread_sigmask(SIG_SETMASK, &none, &old_mask);
  int ignored[NSIG];
  int nignored = 0;
  for (int sig = 1; sig < NSIG; sig++) {
    struct sigaction sa;
    if (sig == SIGKILL || sig == SIGSTOP || sigaction(sig, NULL, &sa) != 0 || sa.sa_handler != SIG_IGN) continue;
    signal(sig, SIG_DFL);
    ignored[nignored++] = sig;
  }
  char **envp = p.envp != NULL ? p.envp : environ;
  /* Without a keeper (no memory or process for one) the exec only pays the teardown itself. */
  int keeper = start_keeper();
  if (strchr(p.file, '/') != NULL) execve(p.file, p.args, envp);
  else execvpe(p.file, p.args, envp);
  e = errno;
  /* The keeper sees end of file and exits; init reaps it. */
  if (keeper >= 0) close(keeper);
  for (int i = 0; i < nignored; i++) signal(ignored[i], SIG_IGN);
  pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
restore:
  for (uint32_t i = 0; duped && i < p.nfds; i++) {
    if (saved[i] >= 0) dup3(saved[i], (int)i, (saved_fd_flags[i] & FD_CLOEXEC) != 0 ? O_CLOEXEC : 0);
    else close((int)i); /* closed before the dup2 above opened it */
  }
  for (uint32_t i = 0; i < nsaved; i++)
    if (saved[i] >= 0) close(saved[i]);
  if (old_cwd >= 0) {
    if (fchdir(old_cwd) != 0) { /* the directory it was in is gone: nothing better to do */ }
    close(old_cwd);
  }
  for (uint32_t i = 0; i < ntemps; i++) close(temps[i]);
  throw_errno(env, e, failed, subject);
  free_process_args(&p);
  return NULL;
}

/*
 * reap(pid): waitpid(pid, WNOHANG), called on SIGCHLD: undefined while the child runs, else [code, signal]
 * (one of them undefined). No thread of Node's pool waits on a child: starting the pool costs a first
 * `rkt run` about a millisecond, and a systemd pod held two of its four threads for its whole life.
 */
static napi_value js_reap(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result, code, signal;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t pid;
  if (argc != 1 || napi_get_value_int32(env, argv[0], &pid) != napi_ok || pid <= 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "reap(pid: number)");
    return NULL;
  }
  int status;
  pid_t r;
  do r = waitpid(pid, &status, WNOHANG);
  while (r < 0 && errno == EINTR);
  char subject[32];
  snprintf(subject, sizeof subject, "%d", pid);
  if (r < 0) return throw_errno(env, errno, "waitpid", subject);
  napi_get_undefined(env, &result);
  if (r == 0) return result;
  napi_get_undefined(env, &code);
  napi_get_undefined(env, &signal);
  if (WIFEXITED(status)) napi_create_int32(env, WEXITSTATUS(status), &code);
  else if (WIFSIGNALED(status)) napi_create_int32(env, WTERMSIG(status), &signal);
  CHECK(napi_create_array_with_length(env, 2, &result));
  CHECK(napi_set_element(env, result, 0, code));
  CHECK(napi_set_element(env, result, 1, signal));
  return result;
}

/*
 * mapFile(path, ascii): the whole file mapped read-only and populated in one call (MAP_POPULATE): a Buffer
 * over the mapping, or with `ascii` a string over it (Node-API's external latin1 string: V8 reads the
 * characters where they are, no copy on its heap), or undefined when the file holds a byte outside ASCII,
 * is empty, or Node lacks external strings.
 *
 * Why: on a VM whose guest page tables are shadowed, each page fault traps out of the guest (~12 us here),
 * and even a populated page costs ~5 us at its first write. readFileSync's buffer takes a fault per page as
 * the kernel copies into it, and the string made from it a fault and a copy per page again on V8's heap:
 * for `rkt run`'s 380 KB bundle and 355 KB code cache ~270 faults (of a run's ~2,800), ~3 ms. A mapping of the
 * page cache's own pages copies nothing.
 *
 * Only for files that are replaced (a rename over them, an unlink and a new file), never rewritten in
 * place: the mapping shows the file as it is now, so a rewrite would change the text under V8, and reading
 * a page past a truncation kills the process (SIGBUS). The CLI's bundles are (a build empties dist/
 * first), and its code caches are renamed into place. Unmapped when V8 collects the string or buffer.
 */
typedef napi_status (*external_latin1_fn)(napi_env, char *, size_t, napi_finalize, void *, napi_value *, bool *);

static void unmap_file(napi_env env, void *data, void *hint) {
  (void)env;
  munmap(data, (size_t)hint);
}

/* Whether n bytes are all ASCII: eight at a time, no branch per byte (380 KB in ~30 us). */
static bool all_ascii(const unsigned char *p, size_t n) {
  uint64_t acc = 0, w;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    memcpy(&w, p + i, 8);
    acc |= w;
  }
  for (; i < n; i++) acc |= p[i];
  return (acc & 0x8080808080808080ULL) == 0;
}

static napi_value js_map_file(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int ok;
  bool ascii = false;
  char *path = argc == 2 ? string_arg(env, argv[0], &ok) : NULL;
  if (path == NULL || napi_get_value_bool(env, argv[1], &ascii) != napi_ok) {
    free(path);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "mapFile(path: string, ascii: boolean)");
    return NULL;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    int e = errno;
    if (fd >= 0) close(fd);
    throw_errno(env, e, "open", path);
    free(path);
    return NULL;
  }
  free(path);
  size_t size = (size_t)st.st_size;
  external_latin1_fn external = ascii ? (external_latin1_fn)dlsym(RTLD_DEFAULT, "node_api_create_external_string_latin1") : NULL;
  napi_get_undefined(env, &result);
  if (size == 0 || !S_ISREG(st.st_mode) || (ascii && external == NULL)) {
    close(fd);
    return result;
  }
  char *mem = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  close(fd);
  /* Where it cannot be mapped (a file system without mmap), the caller reads it. */
  if (mem == MAP_FAILED) return result;
  if (ascii && !all_ascii((const unsigned char *)mem, size)) {
    munmap(mem, size);
    return result;
  }
  napi_status s;
  if (ascii) {
    bool copied;
    s = external(env, mem, size, unmap_file, (void *)size, &result, &copied);
  } else {
    s = napi_create_external_buffer(env, size, mem, unmap_file, (void *)size, &result);
  }
  if (s != napi_ok) {
    munmap(mem, size);
    napi_throw_error(env, "RKT_SYS", "rkt-sys: Node-API could not hold a mapped file");
    return NULL;
  }
  return result;
}

/*
 * warmThreadPool(): starts libuv's thread pool from a thread of its own, once per process, and returns at once
 * (true from the call that started it). The pool starts at its first use (rkt run's first fsync), where the
 * main thread makes its four threads and waits for each to run: 1.0-1.5 ms of every `rkt run` on this
 * project's VMs. A thread of ours queues one empty job on a loop of its own, so that the pool starts on the
 * other core while the main thread loads and runs the command. The loop and the job are sized by libuv itself
 * (uv_loop_size, uv_req_size), so that an addon built against one Node's headers never lays them out wrong
 * under another's libuv.
 *
 * joinThreadPoolWarmer(): waits for that thread to end, which it does once the pool runs and its job is done.
 * The process must call it before it exits (sys.ts: on 'exit'): Node's exit shuts libuv's pool down, and a
 * shutdown while our thread was still making the pool's threads joined threads that did not exist yet, an
 * abort (a `rkt run` that failed at once died of SIGABRT in CI, session 31). An exec needs no join: it ends
 * every thread with the process image.
 */
static void warm_nothing(uv_work_t *req) { (void)req; }
static void warm_done(uv_work_t *req, int status) { (void)req; (void)status; }

static void *warm_pool(void *arg) {
  (void)arg;
  uv_loop_t *loop = malloc(uv_loop_size());
  uv_work_t *work = malloc(uv_req_size(UV_WORK));
  if (loop != NULL && work != NULL && uv_loop_init(loop) == 0) {
    if (uv_queue_work(loop, work, warm_nothing, warm_done) == 0) uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
  }
  free(work);
  free(loop);
  return NULL;
}

/* Only the JavaScript thread calls these two; the flags keep a second call from starting or joining again. */
static pthread_t warm_thread;
static int warm_started, warm_joined;

static napi_value js_warm_thread_pool(napi_env env, napi_callback_info info) {
  (void)info;
  bool started = false;
  if (!warm_started) {
    warm_started = 1;
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) == 0) {
      pthread_attr_setstacksize(&attr, 256 * 1024);
      /* Where no thread can be made, the pool starts at its first use, as it would have. */
      started = pthread_create(&warm_thread, &attr, warm_pool, NULL) == 0;
      pthread_attr_destroy(&attr);
    }
    if (!started) warm_joined = 1;
  }
  napi_value result;
  napi_get_boolean(env, started, &result);
  return result;
}

static napi_value js_join_thread_pool_warmer(napi_env env, napi_callback_info info) {
  (void)info;
  if (warm_started && !warm_joined) {
    warm_joined = 1;
    pthread_join(warm_thread, NULL);
  }
  napi_value result;
  napi_get_undefined(env, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  CHECK(napi_create_function(env, "flock", NAPI_AUTO_LENGTH, js_flock, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "flock", fn));
  CHECK(napi_create_function(env, "mount", NAPI_AUTO_LENGTH, js_mount, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "mount", fn));
  CHECK(napi_create_function(env, "umount", NAPI_AUTO_LENGTH, js_umount, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "umount", fn));
  CHECK(napi_create_function(env, "idmapBind", NAPI_AUTO_LENGTH, js_idmap_bind, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "idmapBind", fn));
  CHECK(napi_create_function(env, "spawn", NAPI_AUTO_LENGTH, js_spawn, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "spawn", fn));
  CHECK(napi_create_function(env, "exec", NAPI_AUTO_LENGTH, js_exec, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "exec", fn));
  CHECK(napi_create_function(env, "reap", NAPI_AUTO_LENGTH, js_reap, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "reap", fn));
  CHECK(napi_create_function(env, "pipe", NAPI_AUTO_LENGTH, js_pipe, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "pipe", fn));
  CHECK(napi_create_function(env, "openPty", NAPI_AUTO_LENGTH, js_open_pty, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "openPty", fn));
  CHECK(napi_create_function(env, "ptyResize", NAPI_AUTO_LENGTH, js_pty_resize, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "ptyResize", fn));
  CHECK(napi_create_function(env, "listenUnix", NAPI_AUTO_LENGTH, js_listen_unix, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "listenUnix", fn));
  CHECK(napi_create_function(env, "warmThreadPool", NAPI_AUTO_LENGTH, js_warm_thread_pool, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "warmThreadPool", fn));
  CHECK(napi_create_function(env, "joinThreadPoolWarmer", NAPI_AUTO_LENGTH, js_join_thread_pool_warmer, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "joinThreadPoolWarmer", fn));
  CHECK(napi_create_function(env, "mapFile", NAPI_AUTO_LENGTH, js_map_file, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "mapFile", fn));
  return exports;
}

/*
 * The fly stage1's run entrypoint (coreos.com/rkt/stage1/run), in C because it is on the hot path
 * of every `rkt run`: a Node entrypoint cost a second Node start-up (0.1 s or more) per pod.
 *
 *   run [--debug] [--interactive] [--inherit-env] [--local-config=DIR] [--dns-conf-mode=resolv=MODE,hosts=MODE] UUID
 *
 * Working directory: the pod directory. RKT_TS_RUN_EXEC=1: stage0 exec'd it in its own place rather than
 * starting it as its child. RKT_LOCK_FD: the locked pod directory handle, kept open in
 * this process and in the app for the pod's whole life. It reads `pod` (the reified pod manifest
 * stage0 validated and wrote), resolves the one app's user and group against the app's rootfs,
 * builds its environment, gives it /etc/resolv.conf and /etc/hosts as --dns-conf-mode asks (or, for an image
 * without /etc/hosts, rkt's fly stub), starts the app (start_app) in a private mount namespace chrooted into
 * `appsinfo/<app>/rootfs` with /proc, /sys and /dev (the root read-only there when the app's
 * readOnlyRootFS asks), writes `pid`, waits, writes
 * `appsinfo/<app>/exit` and exits with the app's status. Failures: one line on stderr, status 254.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/openat2.h>
#include <linux/stat.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Set while the app's child (start_app) runs on this process's memory: it must leave with _exit, never run
 * exit's handlers and flushes on the parent's behalf. */
static volatile int in_app_child;

/*
 * glibc's text for an errno, whichever libc fly is linked with (build/compile-run.mjs: musl where it can), so
 * that its messages stay what they were (musl says "Symbolic link loop" where glibc says "Too many levels of
 * symbolic links"). The errnos its system calls can give; any other as the libc says it.
 */
static const char *error_text(int err) {
  switch (err) {
    case EPERM: return "Operation not permitted";
    case ENOENT: return "No such file or directory";
    case ESRCH: return "No such process";
    case EINTR: return "Interrupted system call";
    case EIO: return "Input/output error";
    case ENXIO: return "No such device or address";
    case E2BIG: return "Argument list too long";
    case ENOEXEC: return "Exec format error";
    case EBADF: return "Bad file descriptor";
    case ECHILD: return "No child processes";
    case EAGAIN: return "Resource temporarily unavailable";
    case ENOMEM: return "Cannot allocate memory";
    case EACCES: return "Permission denied";
    case EFAULT: return "Bad address";
    case EBUSY: return "Device or resource busy";
    case EEXIST: return "File exists";
    case EXDEV: return "Invalid cross-device link";
    case ENODEV: return "No such device";
    case ENOTDIR: return "Not a directory";
    case EISDIR: return "Is a directory";
    case EINVAL: return "Invalid argument";
    case ENFILE: return "Too many open files in system";
    case EMFILE: return "Too many open files";
    case ETXTBSY: return "Text file busy";
    case EFBIG: return "File too large";
    case ENOSPC: return "No space left on device";
    case EROFS: return "Read-only file system";
    case EMLINK: return "Too many links";
    case ENAMETOOLONG: return "File name too long";
    case ENOSYS: return "Function not implemented";
    case ENOTEMPTY: return "Directory not empty";
    case ELOOP: return "Too many levels of symbolic links";
    case EOVERFLOW: return "Value too large for defined data type";
    case EOPNOTSUPP: return "Operation not supported";
    default: return strerror(err);
  }
}

static void fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("stage1-fly run: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  if (in_app_child) _exit(254);
  exit(254);
}

/* ---- A small JSON reader: enough for a pod manifest (objects, arrays, strings, numbers, literals). */

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };
struct json {
  enum jtype type;
  char *str;            /* J_STR; key of an object member */
  double num;           /* J_NUM */
  int boolean;          /* J_BOOL */
  struct json *child;   /* first element or member (J_ARR, J_OBJ) */
  struct json *next;    /* next sibling */
  char *key;            /* member name when inside an object */
};

struct parser {
  const char *s;
  size_t pos, len;
  int depth;
};

static void perr(struct parser *p, const char *what) { fail("pod: invalid JSON at byte %zu: %s", p->pos, what); }
static void skip_ws(struct parser *p) {
  while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' || p->s[p->pos] == '\r')) p->pos++;
}
static struct json *jnew(enum jtype t) {
  struct json *j = calloc(1, sizeof *j);
  if (j == NULL) fail("out of memory");
  j->type = t;
  return j;
}

static void put_utf8(char **out, unsigned cp) {
  char *o = *out;
  if (cp < 0x80) *o++ = (char)cp;
  else if (cp < 0x800) { *o++ = (char)(0xc0 | (cp >> 6)); *o++ = (char)(0x80 | (cp & 0x3f)); }
  else if (cp < 0x10000) { *o++ = (char)(0xe0 | (cp >> 12)); *o++ = (char)(0x80 | ((cp >> 6) & 0x3f)); *o++ = (char)(0x80 | (cp & 0x3f)); }
  else { *o++ = (char)(0xf0 | (cp >> 18)); *o++ = (char)(0x80 | ((cp >> 12) & 0x3f)); *o++ = (char)(0x80 | ((cp >> 6) & 0x3f)); *o++ = (char)(0x80 | (cp & 0x3f)); }
  *out = o;
}

static unsigned hex4(struct parser *p) {
  if (p->pos + 4 > p->len) perr(p, "truncated \\u escape");
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p->s[p->pos++];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else perr(p, "bad \\u escape");
  }
  return v;
}

static char *parse_string(struct parser *p) {
  p->pos++; /* opening quote */
  char *buf = malloc(p->len - p->pos + 1), *o = buf;
  if (buf == NULL) fail("out of memory");
  for (;;) {
    if (p->pos >= p->len) perr(p, "unterminated string");
    char c = p->s[p->pos++];
    if (c == '"') break;
    if ((unsigned char)c < 0x20) perr(p, "control character in string");
    if (c != '\\') { *o++ = c; continue; }
    if (p->pos >= p->len) perr(p, "unterminated escape");
    c = p->s[p->pos++];
    switch (c) {
      case '"': *o++ = '"'; break;
      case '\\': *o++ = '\\'; break;
      case '/': *o++ = '/'; break;
      case 'b': *o++ = '\b'; break;
      case 'f': *o++ = '\f'; break;
      case 'n': *o++ = '\n'; break;
      case 'r': *o++ = '\r'; break;
      case 't': *o++ = '\t'; break;
      case 'u': {
        unsigned cp = hex4(p);
        if (cp >= 0xd800 && cp < 0xdc00 && p->pos + 6 <= p->len && p->s[p->pos] == '\\' && p->s[p->pos + 1] == 'u') {
          p->pos += 2;
          unsigned lo = hex4(p);
          if (lo < 0xdc00 || lo > 0xdfff) perr(p, "bad surrogate pair");
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }
        if (cp == 0) perr(p, "NUL in string");
        put_utf8(&o, cp);
        break;
      }
      default: perr(p, "bad escape");
    }
  }
  *o = '\0';
  return buf;
}

static struct json *parse_value(struct parser *p) {
  skip_ws(p);
  if (p->pos >= p->len) perr(p, "unexpected end");
  if (++p->depth > 64) perr(p, "nested too deep");
  char c = p->s[p->pos];
  struct json *j;
  if (c == '{' || c == '[') {
    int obj = c == '{';
    j = jnew(obj ? J_OBJ : J_ARR);
    p->pos++;
    struct json **tail = &j->child;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == (obj ? '}' : ']')) { p->pos++; p->depth--; return j; }
    for (;;) {
      char *key = NULL;
      if (obj) {
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != '"') perr(p, "expected a member name");
        key = parse_string(p);
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != ':') perr(p, "expected ':'");
        p->pos++;
      }
      struct json *v = parse_value(p);
      v->key = key;
      *tail = v;
      tail = &v->next;
      skip_ws(p);
      if (p->pos >= p->len) perr(p, "unexpected end");
      if (p->s[p->pos] == ',') { p->pos++; continue; }
      if (p->s[p->pos] == (obj ? '}' : ']')) { p->pos++; break; }
      perr(p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
  } else if (c == '"') {
    j = jnew(J_STR);
    j->str = parse_string(p);
  } else if (c == '-' || isdigit((unsigned char)c)) {
    j = jnew(J_NUM);
    char *end;
    j->num = strtod(p->s + p->pos, &end);
    if (end == p->s + p->pos) perr(p, "bad number");
    p->pos = (size_t)(end - p->s);
  } else if (p->len - p->pos >= 4 && strncmp(p->s + p->pos, "true", 4) == 0) {
    j = jnew(J_BOOL); j->boolean = 1; p->pos += 4;
  } else if (p->len - p->pos >= 5 && strncmp(p->s + p->pos, "false", 5) == 0) {
    j = jnew(J_BOOL); p->pos += 5;
  } else if (p->len - p->pos >= 4 && strncmp(p->s + p->pos, "null", 4) == 0) {
    j = jnew(J_NULL); p->pos += 4;
  } else {
    perr(p, "unexpected character");
    return NULL;
  }
  p->depth--;
  return j;
}

static const struct json *member(const struct json *obj, const char *key) {
  if (obj == NULL || obj->type != J_OBJ) return NULL;
  const struct json *found = NULL;
  for (const struct json *m = obj->child; m != NULL; m = m->next)
    if (strcmp(m->key, key) == 0) found = m; /* the last one wins, as in Go */
  return found != NULL && found->type == J_NULL ? NULL : found;
}

static const char *string_member(const struct json *obj, const char *key, const char *where, int required) {
  const struct json *v = member(obj, key);
  if (v == NULL) {
    if (required) fail("pod: %s.%s is required", where, key);
    return NULL;
  }
  if (v->type != J_STR) fail("pod: %s.%s must be a string", where, key);
  return v->str;
}

/* ---- Paths of the app's rootfs, resolved as the app will see them. */

/* Without openat2: the path walked one component at a time, following no link and refusing `..`, each a
 * failure with ELOOP. A link-free path works as it always did; an image's link is never followed on the host. */
static int open_no_links(int rootfd, const char *path, int flags) {
  char buf[PATH_MAX];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
    errno = ENAMETOOLONG;
    return -1;
  }
  int dir = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
  char *save = NULL;
  for (char *c = strtok_r(buf, "/", &save); dir >= 0 && c != NULL;) {
    char *next = strtok_r(NULL, "/", &save);
    struct stat st;
    int fd = -1;
    if (strcmp(c, "..") == 0) errno = ELOOP;
    else if (fstatat(dir, c, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) errno = ELOOP;
    else fd = openat(dir, c, (next != NULL ? O_PATH | O_DIRECTORY : flags) | O_NOFOLLOW | O_CLOEXEC);
    int saved = errno;
    close(dir);
    errno = saved;
    if (next == NULL) return fd;
    dir = fd;
    c = next;
  }
  return dir;
}

/* Opens `path` of the rootfs `rootfd` as a process chrooted into it would: absolute links restart at the
 * root and `..` stops there (openat2's RESOLVE_IN_ROOT), so an image's `/etc -> /usr/etc` leads to its own
 * /usr/etc, and a `/proc -> /../../x` never to the host's /x. Where openat2 is missing (Linux < 5.6, or a
 * seccomp filter that refuses it), open_no_links. */
static int open_in_root(int rootfd, const char *path, int flags) {
  while (*path == '/') path++;
  if (*path == '\0') path = ".";
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (unsigned long long)(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  int fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
  if (fd >= 0 || (errno != ENOSYS && errno != EPERM)) return fd;
  return open_no_links(rootfd, path, flags);
}

/* ---- Users and groups: a number, a name in the app's own /etc/passwd or /etc/group, or a path whose owner is used. */

static unsigned long resolve_id(int rootfd, const char *value, int is_user, const char *app) {
  const char *kind = is_user ? "user" : "group";
  char *end;
  if (isdigit((unsigned char)value[0])) {
    errno = 0;
    unsigned long v = strtoul(value, &end, 10);
    if (*end == '\0' && errno == 0 && v <= 0xfffffffeUL) return v;
  }
  if (value[0] == '/') {
    struct stat st;
    int fd = open_in_root(rootfd, value, O_PATH);
    if (fd < 0 || fstat(fd, &st) != 0) fail("app \"%s\": cannot find the %s of %s in its rootfs", app, kind, value);
    close(fd);
    return is_user ? st.st_uid : st.st_gid;
  }
  const char *db = is_user ? "etc/passwd" : "etc/group";
  int fd = open_in_root(rootfd, db, O_RDONLY);
  if (fd < 0 && errno == ENOENT) fail("app \"%s\": %s \"%s\" is a name, and its rootfs has no /%s", app, kind, value, db);
  if (fd < 0) fail("app \"%s\": %s \"%s\" is a name, and /%s of its rootfs cannot be opened: %s", app, kind, value, db, error_text(errno));
  FILE *f = fdopen(fd, "r");
  if (f == NULL) fail("out of memory");
  char line[4096];
  size_t vlen = strlen(value);
  while (fgets(line, sizeof line, f) != NULL) {
    if (strncmp(line, value, vlen) != 0 || line[vlen] != ':') continue;
    char *third = strchr(line + vlen + 1, ':'); /* skip the password field */
    if (third == NULL) continue;
    errno = 0;
    unsigned long v = strtoul(third + 1, &end, 10);
    if (end != third + 1 && *end == ':' && errno == 0) {
      fclose(f);
      return v;
    }
  }
  fclose(f);
  fail("app \"%s\": no %s \"%s\" in /%s of its rootfs", app, kind, value, db);
  return 0;
}

/* ---- The environment: inherited (with --inherit-env), a default PATH, the app's, AC_APP_NAME. */

struct env {
  char **v;
  size_t n, cap;
};

static void env_set(struct env *e, const char *name, const char *value) {
  size_t nlen = strlen(name);
  char *entry;
  if (asprintf(&entry, "%s=%s", name, value) < 0) fail("out of memory");
  for (size_t i = 0; i < e->n; i++) {
    if (strncmp(e->v[i], name, nlen) == 0 && e->v[i][nlen] == '=') {
      e->v[i] = entry;
      return;
    }
  }
  if (e->n + 2 > e->cap) {
    e->cap = e->cap * 2 + 16;
    e->v = realloc(e->v, e->cap * sizeof *e->v);
    if (e->v == NULL) fail("out of memory");
  }
  e->v[e->n++] = entry;
  e->v[e->n] = NULL;
}


/* ---- Files. */

static char *read_file(const char *path, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot open %s: %s", path, error_text(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) fail("cannot stat %s: %s", path, error_text(errno));
  char *buf = malloc((size_t)st.st_size + 1);
  if (buf == NULL) fail("out of memory");
  size_t got = 0;
  while (got < (size_t)st.st_size) {
    ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) fail("cannot read %s: %s", path, r < 0 ? error_text(errno) : "short read");
    got += (size_t)r;
  }
  close(fd);
  buf[got] = '\0';
  *len = got;
  return buf;
}

/* temp + fsync + rename: readers see the old content or the new one, never a torn file. With `durable`, the
 * file is fsynced before the rename and its directory after it: the rename is a change to the directory, and
 * until the directory reaches the disk a power loss may undo it, leaving no file at all. Without `durable`, no
 * fsync: the rename alone keeps readers from a torn file while the machine runs, and after a power loss the
 * file may be empty or missing, which every reader takes as "not known" (a pid, which no reboot leaves
 * meaningful). */
static void write_file_atomic(const char *path, const char *content, int durable) {
  char tmp[PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("cannot create %s: %s", tmp, error_text(errno));
  size_t len = strlen(content);
  if (write(fd, content, len) != (ssize_t)len || (durable && fsync(fd) != 0)) fail("cannot write %s: %s", tmp, error_text(errno));
  close(fd);
  if (rename(tmp, path) != 0) fail("cannot rename %s to %s: %s", tmp, path, error_text(errno));
  if (!durable) return;
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash == NULL) snprintf(dir, sizeof dir, ".");
  else if (slash == dir) slash[1] = '\0';
  else *slash = '\0';
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0 || fsync(dfd) != 0) fail("cannot sync the directory %s after writing %s: %s", dir, path, error_text(errno));
  close(dfd);
}

/* ---- The app's side of its start (start_app): namespace, mounts, chroot, credentials, exec. */

/* The mount a file is on, to tell the rootfs's own files from a volume's: statx's mount ID, or the device
 * where the kernel gives none (before Linux 5.8; a bind mount from the root's filesystem then goes unseen). */
static int statx_here(int dirfd, const char *name, struct statx *st) {
  /* The system call itself: musl before 1.2.5 (Debian bookworm has 1.2.3) has no statx(). */
  return (int)syscall(SYS_statx, dirfd, name, (name[0] == '\0' ? AT_EMPTY_PATH : 0) | AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_MNT_ID, st);
}
static int same_mount(const struct statx *a, const struct statx *b) {
  if ((a->stx_mask & b->stx_mask & STATX_MNT_ID) != 0) return a->stx_mnt_id == b->stx_mnt_id;
  return a->stx_dev_major == b->stx_dev_major && a->stx_dev_minor == b->stx_dev_minor;
}

/* `path` split into its directory `parent` (trailing slashes dropped; "" for a name alone) and its last
 * component `last`. -1 with ENAMETOOLONG when either does not fit. */
static int split_path(const char *path, char parent[PATH_MAX], char last[NAME_MAX + 1]) {
  if (snprintf(parent, PATH_MAX, "%s", path) >= PATH_MAX) {
    errno = ENAMETOOLONG;
    return -1;
  }
  size_t n = strlen(parent);
  while (n > 0 && parent[n - 1] == '/') parent[--n] = '\0';
  char *slash = strrchr(parent, '/');
  if (snprintf(last, NAME_MAX + 1, "%s", slash != NULL ? slash + 1 : parent) > NAME_MAX) {
    errno = ENAMETOOLONG;
    return -1;
  }
  if (slash != NULL) *slash = '\0';
  else parent[0] = '\0';
  return 0;
}

/* Where a link found in the directory `parent` leads, as a path of the root: `target` itself when absolute,
 * else after `parent`. -1 with ENAMETOOLONG when it does not fit. */
static int link_target(const char *parent, const char *target, char next[PATH_MAX]) {
  if (snprintf(next, PATH_MAX, "%s/%s", target[0] == '/' ? "" : parent, target) >= PATH_MAX) {
    errno = ENAMETOOLONG;
    return -1;
  }
  return 0;
}

/* A directory at `path` of the rootfs as the app will see it, made where it is missing: each missing
 * component is made in its parent as resolved inside the root, and a link to nothing is followed to where it
 * points, inside the root (an image's `/proc -> /../../x` gets the root's own /x). With `on`, nothing is
 * made in a directory on another mount than that (a volume): EXDEV instead. An O_PATH descriptor, or -1
 * with errno. */
static int dir_in_root(int rootfd, const char *path, int links, const struct statx *on) {
  int fd = open_in_root(rootfd, path, O_PATH | O_DIRECTORY);
  if (fd >= 0 || errno != ENOENT) return fd;
  if (links > 40) {
    errno = ELOOP;
    return -1;
  }
  char parent[PATH_MAX];
  char last[NAME_MAX + 1];
  if (split_path(path, parent, last) != 0) return -1;
  int pfd = dir_in_root(rootfd, parent, links, on);
  if (pfd < 0) return -1;
  char target[PATH_MAX];
  ssize_t len = -1;
  struct statx st;
  if (on != NULL && (statx_here(pfd, "", &st) != 0 || !same_mount(&st, on))) {
    close(pfd);
    errno = EXDEV;
    return -1;
  }
  if (mkdirat(pfd, last, 0755) != 0) {
    /* EINVAL: there, and no link (`..`, or made meanwhile): opened as it is. */
    if (errno == EEXIST) len = readlinkat(pfd, last, target, sizeof target - 1);
    if (len < 0 && errno != EINVAL) {
      int saved = errno;
      close(pfd);
      errno = saved;
      return -1;
    }
  }
  close(pfd);
  if (len < 0) return open_in_root(rootfd, path, O_PATH | O_DIRECTORY);
  /* A link to nothing: make what it names. */
  target[len] = '\0';
  char next[PATH_MAX];
  if (link_target(parent, target, next) != 0) return -1;
  return dir_in_root(rootfd, next, links + 1, on);
}

/* Mounts on `/name` of the rootfs as resolved inside it (dir_in_root), through /proc/self/fd: the mount lands
 * on exactly the object resolved, never on a host path an image's link names. */
static void mount_in_root(int rootfd, const char *app, const char *name, const char *source, const char *fstype, unsigned long flags) {
  int fd = dir_in_root(rootfd, name, 0, NULL);
  char target[64];
  snprintf(target, sizeof target, "/proc/self/fd/%d", fd);
  if (fd < 0 || mount(source, target, fstype, flags, NULL) != 0) fail("app \"%s\": cannot mount %s on /%s of its rootfs: %s", app, source, name, error_text(errno));
  close(fd);
}

/* ---- rkt run's DNS flags (--dns-conf-mode, stage1 interface version 4): the app's /etc/resolv.conf and /etc/hosts. */

enum dns_mode { DNS_DEFAULT, DNS_HOST, DNS_STAGE0, DNS_NONE };

/* `resolv=MODE,hosts=MODE`, a key left out being `default`; anything else is one line. */
static void parse_dns_conf_mode(const char *value, enum dns_mode *resolv, enum dns_mode *hosts) {
  static const char *const names[] = { "default", "host", "stage0", "none" };
  const char *pair = value;
  for (;;) {
    size_t n = strcspn(pair, ",");
    const char *eq = memchr(pair, '=', n);
    int found = -1, is_resolv = eq != NULL && (size_t)(eq - pair) == 6 && strncmp(pair, "resolv", 6) == 0;
    int is_hosts = eq != NULL && (size_t)(eq - pair) == 5 && strncmp(pair, "hosts", 5) == 0;
    if (is_resolv || is_hosts) {
      size_t vlen = n - (size_t)(eq + 1 - pair);
      for (int i = 0; i < (is_hosts ? 3 : 4); i++)
        if (strlen(names[i]) == vlen && strncmp(eq + 1, names[i], vlen) == 0) found = i;
    }
    if (found < 0)
      fail("--dns-conf-mode=\"%s\": \"%.*s\" is not resolv=(host|stage0|none|default) or hosts=(host|stage0|default)", value, (int)n, pair);
    *(is_resolv ? resolv : hosts) = (enum dns_mode)found;
    if (pair[n] == '\0') return;
    pair += n + 1;
  }
}

/* The directory of the file `path` of the rootfs as the app will see it, made where missing (dir_in_root, on
 * the root's mount only), and the file's name in it: a link at the end is followed inside the root, one to
 * nothing too (what it names is where the file goes). An O_PATH descriptor, or -1 with errno. */
static int file_in_root(int rootfd, const char *path, char name[NAME_MAX + 1], int links, const struct statx *on) {
  if (links > 40) {
    errno = ELOOP;
    return -1;
  }
  char parent[PATH_MAX];
  if (split_path(path, parent, name) != 0) return -1;
  if (name[0] == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
    errno = EISDIR;
    return -1;
  }
  int pfd = dir_in_root(rootfd, parent, 0, on);
  if (pfd < 0) return -1;
  char target[PATH_MAX];
  ssize_t len = readlinkat(pfd, name, target, sizeof target - 1);
  if (len < 0) {
    if (errno == EINVAL || errno == ENOENT) return pfd; /* no link: the file itself, or nothing yet */
    int saved = errno;
    close(pfd);
    errno = saved;
    return -1;
  }
  close(pfd);
  target[len] = '\0';
  char next[PATH_MAX];
  if (link_target(parent, target, next) != 0) return -1;
  return file_in_root(rootfd, next, name, links + 1, on);
}

/* Gives the app `path` (etc/resolv.conf) with `content`, before the app runs: written where the image's own
 * links lead, each resolved inside the root (file_in_root), never on the host; what is missing on the way is
 * made inside the root, and the links stay. A file or directory on another mount than the root's is a
 * volume's (the host's own /etc, say) and left as it is. Replaced rather than written into: in a copied root
 * (--no-overlay) the image's file may be a hard link to another of its files. */
static void put_file(int rootfd, const struct statx *root, const char *app, const char *path, const char *content, size_t len) {
  struct statx st;
  char name[NAME_MAX + 1];
  int dfd = file_in_root(rootfd, path, name, 0, root);
  if (dfd < 0 && errno == EXDEV) return; /* a directory of a volume on the way: nothing made there */
  if (dfd < 0) fail("app \"%s\": cannot write /%s in its rootfs: %s", app, path, error_text(errno));
  if (statx_here(dfd, "", &st) != 0) fail("app \"%s\": cannot write /%s in its rootfs: %s", app, path, error_text(errno));
  int volume = !same_mount(&st, root);
  if (!volume && statx_here(dfd, name, &st) == 0) {
    volume = !same_mount(&st, root);
    if (!volume && S_ISDIR(st.stx_mode)) fail("app \"%s\": cannot write /%s in its rootfs: it resolves to a directory", app, path);
    if (!volume && !S_ISREG(st.stx_mode)) fail("app \"%s\": cannot write /%s in its rootfs: it resolves to something other than a regular file", app, path);
    if (!volume && unlinkat(dfd, name, 0) != 0) fail("app \"%s\": cannot replace /%s in its rootfs: %s", app, path, error_text(errno));
  } else if (!volume && errno != ENOENT) {
    fail("app \"%s\": cannot write /%s in its rootfs: %s", app, path, error_text(errno));
  }
  if (!volume) {
    int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) fail("app \"%s\": cannot write /%s in its rootfs: %s", app, path, error_text(errno));
    for (size_t done = 0; done < len;) {
      ssize_t w = write(fd, content + done, len - done);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) fail("app \"%s\": cannot write /%s in its rootfs: %s", app, path, error_text(errno));
      done += (size_t)w;
    }
    close(fd);
  }
  close(dfd);
}

/* put_file with the content of the file `source` (the host's, or the one stage0 generated in the pod directory). */
static void give_file(int rootfd, const struct statx *root, const char *app, const char *path, const char *source) {
  size_t len;
  char *content = read_file(source, &len);
  put_file(rootfd, root, app, path, content, len);
  free(content);
}

/* rkt's fly stub, for an image without /etc/hosts when no flag asked for one (hosts=default). */
static const char DEFAULT_HOSTS[] = "127.0.0.1 localhost localdomain\n";

/* Whether the app finds `path` in its root (through the image's links, inside the root): one openat2 when it
 * does, the usual case. What cannot be resolved (a link loop, a file where a directory should be) is the
 * image's own, there as far as this is concerned; only ENOENT is "none". */
static int missing_in_root(int rootfd, const char *path) {
  int fd = open_in_root(rootfd, path, O_PATH);
  if (fd >= 0) close(fd);
  return fd < 0 && errno == ENOENT;
}

/* ---- A relative exec (appc: a name without "/" is looked up in PATH; Docker images mostly name theirs so). stage0
 * keeps it in the pod manifest as given; it is resolved here, in the app's process after its chroot, where the
 * kernel follows the image's links inside the root: the rule of rkt's stage1 (findBinPath) and of the systemd
 * stage1 (app-paths.ts), so both run the same path. An absolute exec never comes here. */

/* `dir`/`name` made absolute against `cwd` and lexically clean (`.` and `..` dropped, as rkt's filepath.Join),
 * so that the app's argv[0] is the path the systemd stage1 gives it. NULL when it does not fit. */
static char *join_clean(const char *cwd, const char *dir, const char *name) {
  char raw[PATH_MAX * 2];
  if (snprintf(raw, sizeof raw, "%s/%s/%s", dir[0] == '/' ? "" : cwd, dir, name) >= (int)sizeof raw) return NULL;
  char *out = malloc(strlen(raw) + 2);
  if (out == NULL) fail("out of memory");
  size_t n = 0;
  char *save = NULL;
  for (char *c = strtok_r(raw, "/", &save); c != NULL; c = strtok_r(NULL, "/", &save)) {
    if (strcmp(c, ".") == 0) continue;
    if (strcmp(c, "..") == 0) {
      while (n > 0 && out[n - 1] != '/') n--;
      if (n > 0) n--;
      continue;
    }
    out[n++] = '/';
    size_t len = strlen(c);
    memcpy(out + n, c, len);
    n += len;
  }
  if (n == 0) out[n++] = '/';
  out[n] = '\0';
  return out;
}

/* Whether the app could run `path`: a regular file (links followed, inside the chroot) with an execute bit, as
 * rkt checked. Whether the app's user may is left to execve. */
static int runnable(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111) != 0;
}

/* The path the app runs for a relative exec `name`, called after the chroot and the chdir to `cwd`: one with a
 * slash joined with `cwd` (execve says what is wrong with it); a bare name searched in `path`, the PATH of the app's
 * manifest environment (not fly's default, as in rkt), or without one in `cwd`, /bin and /usr/bin (exec(3)'s). The
 * first candidate that is runnable wins; none: one line, 254. */
static char *find_exec(const char *app, const char *name, const char *cwd, const char *path) {
  if (strchr(name, '/') != NULL) {
    char *joined = join_clean(cwd, "", name);
    if (joined == NULL) fail("app \"%s\": cannot execute %s: %s", app, name, error_text(ENAMETOOLONG));
    return joined;
  }
  const char *dirs = path;
  char fallback[PATH_MAX + 32];
  if (dirs == NULL) {
    if (snprintf(fallback, sizeof fallback, "%s:/bin:/usr/bin", cwd) >= (int)sizeof fallback) fail("app \"%s\": working directory too long", app);
    dirs = fallback;
  }
  for (const char *d = dirs;;) {
    size_t len = strcspn(d, ":");
    char dir[PATH_MAX];
    if (len < sizeof dir) {
      memcpy(dir, d, len);
      dir[len] = '\0';
      char *candidate = join_clean(cwd, dir, name);
      if (candidate != NULL && runnable(candidate)) return candidate;
      free(candidate);
    }
    if (d[len] == '\0') break;
    d += len + 1;
  }
  if (path != NULL) fail("app \"%s\": cannot execute %s: not found in its PATH (%s) in its root filesystem", app, name, path);
  fail("app \"%s\": cannot execute %s: not found in %s, /bin or /usr/bin (its environment has no PATH) in its root filesystem", app, name, cwd);
  return NULL;
}

static void exec_app(const char *app, const char *rootfs, uid_t uid, gid_t gid, const gid_t *groups, size_t ngroups, const char *cwd, char **argv, char **envp,
                     const char *app_path, pid_t parent, int interactive, int read_only_root) {
  if (!interactive) {
    int null = open("/dev/null", O_RDONLY);
    if (null < 0 || dup2(null, 0) < 0) fail("cannot open /dev/null: %s", error_text(errno));
    if (null != 0) close(null);
  }
  if (unshare(CLONE_NEWNS) != 0) fail("cannot unshare the mount namespace: %s", error_text(errno));
  /* The mounts below must vanish with the app and never propagate back to the host. */
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) fail("cannot make / private: %s", error_text(errno));
  /* Opened in this mount namespace: a mount on a directory of the one before is refused (EINVAL). */
  int rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) fail("app \"%s\": cannot open its rootfs %s: %s", app, rootfs, error_text(errno));
  mount_in_root(rootfd, app, "proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
  mount_in_root(rootfd, app, "sys", "/sys", NULL, MS_BIND | MS_REC);
  mount_in_root(rootfd, app, "dev", "/dev", NULL, MS_BIND | MS_REC);
  close(rootfd);
  if (read_only_root) {
    /* readOnlyRootFS (rkt run --readonly-rootfs): the root is bound onto itself (a copy with --no-overlay is
     * no mount of its own) with everything below it, and only that top mount is made read-only: the volumes,
     * /proc, /sys and /dev below it keep their own flags. In this namespace only; the stage1 wrote its
     * files into the root before. */
    if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) != 0) fail("app \"%s\": cannot bind its rootfs: %s", app, error_text(errno));
    if (mount(NULL, rootfs, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) != 0) fail("app \"%s\": cannot make its rootfs read-only: %s", app, error_text(errno));
  }
  if (chdir(rootfs) != 0 || chroot(".") != 0) fail("cannot chroot into %s: %s", rootfs, error_text(errno));
  if (chdir(cwd) != 0) fail("cannot change to the working directory %s: %s", cwd, error_text(errno));
  /* Before the credentials change: the search sees what rkt's (root's) did. */
  if (argv[0][0] != '/') argv[0] = find_exec(app, argv[0], cwd, app_path);
  /* Groups before the gid, the gid before the uid: each step needs the privilege the next drops. */
  /* The system calls themselves: libc's wrappers would signal every thread of the process to change theirs
   * too, and this child shares its memory (and so libc's idea of its threads) with the parent. */
  if (syscall(SYS_setgroups, ngroups, groups) != 0) fail("cannot set the supplementary groups: %s", error_text(errno));
  if (syscall(SYS_setgid, gid) != 0) fail("cannot set gid %u: %s", (unsigned)gid, error_text(errno));
  if (syscall(SYS_setuid, uid) != 0) fail("cannot set uid %u: %s", (unsigned)uid, error_text(errno));
  /* Changing credentials clears the parent-death signal, so it is set last. */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail("cannot set the parent-death signal: %s", error_text(errno));
  if (getppid() != parent) _exit(254);
  execve(argv[0], argv, envp);
  fail("cannot execute %s: %s", argv[0], error_text(errno));
}

/* What the app's child needs, set up by main before it starts. */
struct app_start {
  const char *name, *rootfs, *cwd, *app_path;
  uid_t uid;
  gid_t gid;
  const gid_t *groups;
  size_t ngroups;
  char **argv, **envp;
  pid_t parent;
  int interactive, read_only_root, oom_adj_set, oom_adj, no_new_privs;
  sigset_t mask; /* the parent's signal mask, for the child to restore */
};

static int app_child(void *arg) {
  struct app_start *a = arg;
  in_app_child = 1;
  /* What main set for itself (forward for SIGTERM and SIGHUP, SIGINT and SIGQUIT ignored) is not the app's;
   * signals stay blocked until then, so that none runs the parent's handler here. */
  signal(SIGINT, SIG_DFL);
  signal(SIGQUIT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  signal(SIGHUP, SIG_DFL);
  sigprocmask(SIG_SETMASK, &a->mask, NULL);
  if (a->oom_adj_set) {
    char adj[16];
    snprintf(adj, sizeof adj, "%d", a->oom_adj);
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, adj, strlen(adj)) < 0) fail("cannot set the app's oom_score_adj to %d: %s", a->oom_adj, error_text(errno));
    close(fd);
  }
  if (a->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail("cannot set no-new-privileges: %s", error_text(errno));
  exec_app(a->name, a->rootfs, a->uid, a->gid, a->groups, a->ngroups, a->cwd, a->argv, a->envp, a->app_path, a->parent, a->interactive, a->read_only_root);
  return 254; /* exec_app returns only by failing, which exits */
}

/*
 * Starts the app's process as posix_spawn does: sharing this process's memory (CLONE_VM) on a stack of its
 * own, this process suspended until the child has exec'd the app or exited (CLONE_VFORK). A fork copied the
 * page tables and then took a copy-on-write fault on each page either process wrote: on a VM with shadowed
 * page tables ~4 ms between the fork and the child's first system call, against a fraction of one here.
 * The child writes nothing of the parent's but what exec_app allocates; its failures leave with _exit.
 */
/* The app's pid once it runs; a SIGTERM or SIGHUP that came before is kept in pending_signal (forward). */
static volatile pid_t app_pid;
static volatile sig_atomic_t pending_signal;

static pid_t start_app(struct app_start *a) {
  const size_t stack_size = 1 << 20;
  char *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) fail("cannot start the app: %s", error_text(errno));
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, &a->mask);
  pid_t child = clone(app_child, stack + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, a);
  int e = errno;
  in_app_child = 0;
  /* Known to forward before the signals are let in again: one sent while they were blocked (the app's start,
   * ~1 ms) is delivered right at the unblocking, and went nowhere while app_pid was still 0. */
  if (child > 0) app_pid = child;
  sigprocmask(SIG_SETMASK, &a->mask, NULL);
  if (child > 0 && pending_signal != 0) kill(child, pending_signal);
  munmap(stack, stack_size);
  if (child < 0) fail("cannot start the app: %s", error_text(e));
  return child;
}

static void forward(int sig) {
  if (app_pid > 0) kill(app_pid, sig);
  /* Before the app runs (its rootfs, user and environment being read): passed on once it does (start_app). */
  else pending_signal = sig;
}

int main(int argc, char **argv) {
  int inherit_env = 0, interactive = 0;
  enum dns_mode dns_resolv = DNS_DEFAULT, dns_hosts = DNS_DEFAULT;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--inherit-env") == 0) inherit_env = 1;
    else if (strcmp(argv[i], "--interactive") == 0) interactive = 1;
    else if (strncmp(argv[i], "--dns-conf-mode=", 16) == 0) parse_dns_conf_mode(argv[i] + 16, &dns_resolv, &dns_hosts);
    /* rkt's fly discarded --net and ran the app on the host's network whatever was asked: a pod asked to have
     * none of it is refused instead, before anything is set up, as an isolator fly cannot enforce is. */
    else if (strncmp(argv[i], "--net=", 6) == 0 && strcmp(argv[i] + 6, "host") != 0)
      fail("%s: the fly stage1 runs its app in the host's network namespace and cannot give it a network of its own; use the systemd stage1", argv[i]);
  }
  /* Started by stage0 as its child, stage0 is the pod to its user, as rkt's process was: when it dies, so does
   * the pod. Exec'd by stage0 in its place (RKT_TS_RUN_EXEC, the run-exec annotation's contract), this process
   * is the pod, and its parent is whoever started rkt. */
  const char *execed = getenv("RKT_TS_RUN_EXEC");
  if (execed == NULL || strcmp(execed, "1") != 0) {
    pid_t stage0 = getppid();
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail("cannot set the parent-death signal: %s", error_text(errno));
    if (getppid() != stage0) exit(254);
  }

  const char *lock = getenv("RKT_LOCK_FD");
  if (lock == NULL || !isdigit((unsigned char)lock[0])) fail("RKT_LOCK_FD is not set to the pod lock");

  size_t len;
  char *text = read_file("pod", &len);
  struct parser p = { text, 0, len, 0 };
  struct json *pod = parse_value(&p);
  skip_ws(&p);
  if (p.pos != p.len) perr(&p, "trailing data");
  const struct json *kind = member(pod, "acKind");
  const struct json *apps = member(pod, "apps");
  if (kind == NULL || kind->type != J_STR || strcmp(kind->str, "PodManifest") != 0 || apps == NULL || apps->type != J_ARR)
    fail("pod: not a pod manifest");
  size_t napps = 0;
  for (const struct json *a = apps->child; a != NULL; a = a->next) napps++;
  if (napps != 1) fail("fly runs exactly one app per pod; this pod has %zu", napps);
  const struct json *rapp = apps->child;
  const char *name = string_member(rapp, "name", "apps[0]", 1);
  for (const char *c = name; *c; c++)
    if (!(islower((unsigned char)*c) || isdigit((unsigned char)*c) || *c == '-')) fail("pod: apps[0].name %s is not an AC Name", name);
  const struct json *app = member(rapp, "app");
  if (app == NULL || app->type != J_OBJ) fail("app \"%s\" has no app section in the pod manifest", name);
  const struct json *ro = member(rapp, "readOnlyRootFS");
  if (ro != NULL && ro->type != J_BOOL) fail("pod: apps[0].readOnlyRootFS must be a boolean");
  int read_only_root = ro != NULL && ro->boolean;

  const struct json *exec = member(app, "exec");
  size_t nexec = 0;
  if (exec != NULL && exec->type == J_ARR)
    for (const struct json *e = exec->child; e != NULL; e = e->next) {
      if (e->type != J_STR) fail("pod: apps[0].app.exec must be an array of strings");
      nexec++;
    }
  if (nexec == 0) fail("app \"%s\" has no exec: give one with --exec", name);
  char **app_argv = calloc(nexec + 1, sizeof *app_argv);
  size_t k = 0;
  for (const struct json *e = exec->child; e != NULL; e = e->next) app_argv[k++] = e->str;

  char rootfs[PATH_MAX];
  snprintf(rootfs, sizeof rootfs, "appsinfo/%s/rootfs", name);
  char cwd_pod[PATH_MAX];
  if (getcwd(cwd_pod, sizeof cwd_pod) == NULL) fail("cannot read the working directory: %s", error_text(errno));
  char abs_rootfs[PATH_MAX];
  if (snprintf(abs_rootfs, sizeof abs_rootfs, "%s/%s", cwd_pod, rootfs) >= (int)sizeof abs_rootfs) fail("pod directory path too long");

  int rootfd = open(abs_rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) fail("app \"%s\": cannot open its rootfs %s: %s", name, abs_rootfs, error_text(errno));
  uid_t uid = (uid_t)resolve_id(rootfd, string_member(app, "user", "apps[0].app", 1), 1, name);
  gid_t gid = (gid_t)resolve_id(rootfd, string_member(app, "group", "apps[0].app", 1), 0, name);
  /* rkt run's DNS flags: the host's file, or the one stage0 generated in the pod directory (the cwd), in
   * place of the image's; fly's app keeps the host's hostname, so the hosts file is given as it is. */
  int give_resolv = dns_resolv == DNS_HOST || dns_resolv == DNS_STAGE0, give_hosts = dns_hosts == DNS_HOST || dns_hosts == DNS_STAGE0;
  /* Without a flag for it, rkt's fly gave an image without /etc/hosts its stub: as the systemd stage1 does. */
  int stub_hosts = dns_hosts == DNS_DEFAULT && missing_in_root(rootfd, "etc/hosts");
  struct statx root_st;
  if ((give_resolv || give_hosts || stub_hosts) && statx_here(rootfd, "", &root_st) != 0) fail("app \"%s\": cannot stat its rootfs: %s", name, error_text(errno));
  if (give_resolv) give_file(rootfd, &root_st, name, "etc/resolv.conf", dns_resolv == DNS_HOST ? "/etc/resolv.conf" : "rkt-resolv.conf");
  if (give_hosts) give_file(rootfd, &root_st, name, "etc/hosts", dns_hosts == DNS_HOST ? "/etc/hosts" : "rkt-hosts");
  if (stub_hosts) put_file(rootfd, &root_st, name, "etc/hosts", DEFAULT_HOSTS, sizeof DEFAULT_HOSTS - 1);
  close(rootfd);
  gid_t groups[NGROUPS_MAX];
  size_t ngroups = 0;
  const struct json *sg = member(app, "supplementaryGIDs");
  if (sg != NULL) {
    if (sg->type != J_ARR) fail("pod: apps[0].app.supplementaryGIDs must be a list of group IDs");
    for (const struct json *g = sg->child; g != NULL; g = g->next) {
      if (g->type != J_NUM || g->num < 0 || g->num > 4294967294.0 || g->num != (double)(unsigned long)g->num)
        fail("pod: apps[0].app.supplementaryGIDs must be a list of group IDs");
      if (ngroups == NGROUPS_MAX) fail("too many supplementary groups");
      groups[ngroups++] = (gid_t)g->num;
    }
  }
  const char *cwd = string_member(app, "workingDirectory", "apps[0].app", 0);
  if (cwd == NULL) cwd = "/";

  struct env env = { NULL, 0, 0 };
  env_set(&env, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  if (inherit_env) {
    for (char **e = environ; *e != NULL; e++) {
      char *eq = strchr(*e, '=');
      if (eq == NULL || strncmp(*e, "RKT_LOCK_FD=", 12) == 0 || strncmp(*e, "RKT_TS_RUN_EXEC=", 16) == 0) continue;
      char *n = strndup(*e, (size_t)(eq - *e));
      env_set(&env, n, eq + 1);
    }
  }
  const struct json *vars = member(app, "environment");
  /* The PATH of the app's manifest environment, where a relative exec is searched (find_exec). */
  const char *app_path = NULL;
  if (vars != NULL) {
    if (vars->type != J_ARR) fail("pod: apps[0].app.environment must be a list of name/value pairs");
    for (const struct json *v = vars->child; v != NULL; v = v->next) {
      const char *vname = string_member(v, "name", "apps[0].app.environment[]", 1), *value = string_member(v, "value", "apps[0].app.environment[]", 1);
      env_set(&env, vname, value);
      if (strcmp(vname, "PATH") == 0) app_path = value;
    }
  }
  env_set(&env, "AC_APP_NAME", name);
  /* rkt run --mds-register leaves the pod's metadata service URL in the pod directory (the cwd). */
  if (access("mds-url", F_OK) == 0) {
    size_t ulen;
    char *url = read_file("mds-url", &ulen);
    while (ulen > 0 && (url[ulen - 1] == '\n' || url[ulen - 1] == '\r')) url[--ulen] = '\0';
    env_set(&env, "AC_METADATA_URL", url);
  }

  /* Isolators: fly runs the app in the host's cgroups with every capability, so it applies what a process
   * can set on itself (oom-score-adj, no-new-privileges) and refuses the rest, rather than running the app
   * without the limits its manifest asks for. */
  int oom_adj_set = 0, oom_adj = 0, no_new_privs = 0;
  const struct json *isolators = member(app, "isolators");
  if (isolators != NULL) {
    if (isolators->type != J_ARR) fail("pod: apps[0].app.isolators must be a list");
    for (const struct json *i = isolators->child; i != NULL; i = i->next) {
      const char *iname = string_member(i, "name", "apps[0].app.isolators[]", 1);
      const struct json *v = member(i, "value");
      if (strcmp(iname, "os/linux/oom-score-adj") == 0 && v != NULL && v->type == J_NUM) {
        oom_adj_set = 1;
        oom_adj = (int)v->num;
      } else if (strcmp(iname, "os/linux/no-new-privileges") == 0 && v != NULL && v->type == J_BOOL) {
        no_new_privs = v->boolean;
      } else {
        fail("app \"%s\": the fly stage1 cannot enforce isolator %s (its apps run in the host's cgroups with every capability); use the systemd stage1", name, iname);
      }
    }
  }

  /* Terminal signals (SIGINT, SIGQUIT) reach the whole process group, the app included: the app decides
   * what they mean, and this process outlives it to record its status. SIGTERM and SIGHUP sent to the
   * pod (stage0 forwards them) are passed on to the app. */
  signal(SIGINT, SIG_IGN);
  signal(SIGQUIT, SIG_IGN);
  struct sigaction sa = { 0 };
  sa.sa_handler = forward;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);

  fflush(NULL);
  struct app_start start = {
    .name = name, .rootfs = abs_rootfs, .uid = uid, .gid = gid, .groups = groups, .ngroups = ngroups, .cwd = cwd,
    .argv = app_argv, .envp = env.v, .app_path = app_path, .parent = getpid(), .interactive = interactive,
    .read_only_root = read_only_root, .oom_adj_set = oom_adj_set, .oom_adj = oom_adj, .no_new_privs = no_new_privs,
  };
  pid_t child = start_app(&start);
  char buf[64];
  snprintf(buf, sizeof buf, "%d\n", (int)child);
  /* Not durable: a pid means nothing after a reboot, and the fsync (0.1-0.9 ms here) raced a short app's whole run. */
  write_file_atomic("pid", buf, 0);

  int status;
  while (waitpid(child, &status, 0) < 0)
    if (errno != EINTR) fail("cannot wait for the app: %s", error_text(errno));
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  char exit_path[PATH_MAX];
  snprintf(exit_path, sizeof exit_path, "appsinfo/%s/exit", name);
  snprintf(buf, sizeof buf, "%d\n", code);
  /* Durable: the app's exit status is what a user checks afterwards, reboot or not. */
  write_file_atomic(exit_path, buf, 1);
  return code;
}

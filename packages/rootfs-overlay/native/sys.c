/*
 * The few Linux system calls rkt-ts needs and Node lacks, as a Node-API addon: flock(2) for pod locks and
 * mount(2) for app root filesystems. Without it, each was a fork and exec of util-linux's flock or mount:
 * a fork of a Node process copies its page tables (3-9 ms here), and mount(8) loads libmount on top.
 *
 * Errors are thrown as JavaScript Errors carrying `code` (the errno name, as Node's own fs errors do) and
 * `errno`, so that callers keep matching codes rather than messages.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <node_api.h>

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

NAPI_MODULE_INIT() {
  napi_value fn;
  CHECK(napi_create_function(env, "flock", NAPI_AUTO_LENGTH, js_flock, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "flock", fn));
  CHECK(napi_create_function(env, "mount", NAPI_AUTO_LENGTH, js_mount, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "mount", fn));
  return exports;
}

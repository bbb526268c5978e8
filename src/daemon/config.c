/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vivarium.conf(5): load the service's configuration from an INI file.
 *
 * Trust zone: the trusted dispatcher, once at start-up, reading a file the
 * administrator wrote. The file is not hostile, but it is typed by hand, so
 * every mistake must be caught and named: an unknown section or key, a value
 * that does not parse and a value out of range are all errors carrying
 * "FILE:LINE:", the key, the value and the rule. Nothing is ignored silently.
 *
 * Invariants:
 *  - one table (config_keys[]) names every key, its field, its unit and its
 *    range; the loader, config_validate() and the manual page agree with it;
 *  - config_load() is all or nothing: on error *c is left exactly as it was;
 *  - values are checked one at a time while loading; rules spanning fields
 *    wait for config_validate(), because command-line options are applied
 *    between the two and may repair (or break) a combination.
 */
#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon-config.h"
#include "macro.h"
#include "parse-util.h"

#define KiB UINT64_C(1024)
#define MiB (1024 * KiB)
#define GiB (1024 * MiB)
#define TiB (1024 * GiB)

/* The kernel's limit for a socket path, counting the terminating NUL. */
#define SOCKET_PATH_MAX sizeof(((struct sockaddr_un *) 0)->sun_path)

_Static_assert(sizeof(mode_t) == sizeof(uint32_t), "mode_t is stored as a 32-bit field");

enum config_kind {
        CONFIG_UINT,    /* decimal integer */
        CONFIG_SIZE,    /* bytes, with an optional K, M, G or T suffix */
        CONFIG_SECONDS, /* decimal seconds, stored as milliseconds */
        CONFIG_CPUS,    /* a decimal number of CPUs, stored in thousandths */
        CONFIG_MODE,    /* octal permission bits */
        CONFIG_PATH,    /* absolute socket path */
        CONFIG_USER,    /* a user name */
        CONFIG_MODULES, /* comma-separated Python module names */
};

struct config_key {
        const char *section;
        const char *name;
        enum config_kind kind;
        size_t offset;
        size_t width; /* of the field: 4 or 8 bytes; a max must fit in it */
        uint64_t min, max;
};

#define KEY(sec, key, kind, field, lo, hi)                                    \
        {                                                                     \
                sec, key, kind, offsetof(struct vivarium_config, field),      \
                        sizeof(((struct vivarium_config *) 0)->field), lo, hi \
        }

/* Keep in step with daemon-config.h, man/vivarium.conf.5 and examples/vivarium.conf. */
static const struct config_key config_keys[] = {
        KEY("service", "socket", CONFIG_PATH, socket_path, 0, 0),
        KEY("service", "socket_mode", CONFIG_MODE, socket_mode, 0600, 0777),
        KEY("service", "user", CONFIG_USER, user, 0, 0),
        KEY("service", "max_connections", CONFIG_UINT, max_connections, 1, 65536),
        KEY("service", "max_connections_per_uid", CONFIG_UINT, max_connections_per_uid, 1, 65536),
        KEY("service", "max_frame", CONFIG_SIZE, max_frame, 1 * KiB, 64 * MiB),
        KEY("service", "max_inflight", CONFIG_UINT, max_inflight, 1, 4096),
        KEY("service", "shutdown_grace", CONFIG_SECONDS, shutdown_grace_ms, 0, 600 * 1000),

        KEY("limits", "timeout", CONFIG_SECONDS, default_timeout_ms, 1, 3600 * 1000),
        KEY("limits", "max_timeout", CONFIG_SECONDS, max_timeout_ms, 1, 86400 * 1000),
        KEY("limits", "memory", CONFIG_SIZE, limits.memory_bytes, 16 * MiB, 64 * GiB),
        KEY("limits", "processes", CONFIG_UINT, limits.nproc, 4, 4096),
        /* 0 (the default) is no quota and cannot be written; the machine's CPU
         * count bounds it further (config_validate()). */
        KEY("limits", "cpus", CONFIG_CPUS, limits.cpu_milli, 10, 1024 * 1000),
        KEY("limits", "open_files", CONFIG_UINT, open_files, 16, 65536),
        KEY("limits", "memory_period_ms", CONFIG_UINT, memory_period_ms, 1, 1000),
        KEY("limits", "file_size", CONFIG_SIZE, file_size_bytes, 1 * MiB, 1 * TiB),
        KEY("limits", "tmp", CONFIG_SIZE, tmp_bytes, 1 * MiB, 64 * GiB),
        KEY("limits", "workspace", CONFIG_SIZE, workspace_bytes, 1 * MiB, 1 * TiB),
        KEY("limits", "output", CONFIG_SIZE, output_bytes, 4 * KiB, 256 * MiB),
        KEY("limits", "max_images", CONFIG_UINT, max_images, 0, 64),
        KEY("limits", "max_image_size", CONFIG_SIZE, max_image_bytes, 1 * KiB, 64 * MiB),

        KEY("pool", "idle_workers", CONFIG_UINT, idle_workers, 0, 64),
        KEY("pool", "max_workers", CONFIG_UINT, max_workers, 1, 64),
        KEY("pool", "queue", CONFIG_UINT, queue_limit, 0, 65536),
        KEY("pool", "startup_timeout", CONFIG_SECONDS, startup_timeout_ms, 1000, 600 * 1000),

        KEY("environment.default", "preload", CONFIG_MODULES, preload, 0, 0),
};

static const char *const config_sections[] = {"service", "limits", "pool", "environment.default"};

int
config_init(struct vivarium_config *c)
{
        char **preload = NULL;
        int r = parse_module_list(CONFIG_PRELOAD_DEFAULT, &preload);

        if (r < 0)
                return r;
        *c = (struct vivarium_config){
                .socket_mode = 0600,
                .max_connections = 256,
                .max_connections_per_uid = 64,
                .max_frame = 16 * MiB,
                .max_inflight = 64,
                .shutdown_grace_ms = 5 * 1000,
                .default_timeout_ms = 30 * 1000,
                .max_timeout_ms = 600 * 1000,
                .limits = POOL_LIMITS_DEFAULT,
                .open_files = 1024,
                .memory_period_ms = 10,
                .file_size_bytes = 256 * MiB,
                .tmp_bytes = 64 * MiB,
                .workspace_bytes = 256 * MiB,
                .output_bytes = 1 * MiB,
                .max_images = 8,
                .max_image_bytes = 4 * MiB,
                .idle_workers = 2,
                .max_workers = 8,
                .queue_limit = 64,
                .startup_timeout_ms = 60 * 1000,
                .preload = preload,
                .preload_if_installed = true,
        };
        return 0;
}

void
config_done(struct vivarium_config *c)
{
        if (!c)
                return;
        free(c->socket_path);
        c->socket_path = NULL;
        free(c->user);
        c->user = NULL;
        c->preload = strv_free(c->preload);
}

static uint64_t
config_field_get(const struct vivarium_config *c, const struct config_key *k)
{
        const uint8_t *p = (const uint8_t *) c + k->offset;

        if (k->width == sizeof(uint32_t)) {
                uint32_t v;
                memcpy(&v, p, sizeof v);
                return v;
        }
        uint64_t v;
        memcpy(&v, p, sizeof v);
        return v;
}

static void
config_field_set(struct vivarium_config *c, const struct config_key *k, uint64_t v)
{
        uint8_t *p = (uint8_t *) c + k->offset;

        /* The table's maxima fit the field, and v has been checked against them. */
        if (k->width == sizeof(uint32_t)) {
                uint32_t v32 = (uint32_t) v;
                memcpy(p, &v32, sizeof v32);
        } else
                memcpy(p, &v, sizeof v);
}

/* A value as it would be written in the file, so messages can be pasted back. */
static void
config_format(enum config_kind kind, uint64_t v, char *buf, size_t size)
{
        static const struct {
                uint64_t unit;
                char suffix;
        } units[] = {{TiB, 'T'}, {GiB, 'G'}, {MiB, 'M'}, {KiB, 'K'}};

        switch (kind) {
        case CONFIG_SIZE:
                for (size_t i = 0; i < ELEMENTSOF(units); i++)
                        if (v > 0 && v % units[i].unit == 0) {
                                snprintf(buf, size, "%" PRIu64 "%c", v / units[i].unit, units[i].suffix);
                                return;
                        }
                break;
        case CONFIG_SECONDS:
        case CONFIG_CPUS:
                if (v % 1000 != 0) {
                        int n = snprintf(buf, size, "%" PRIu64 ".%03" PRIu64, v / 1000, v % 1000);
                        while (n > 0 && (size_t) n < size && buf[n - 1] == '0')
                                buf[--n] = 0;
                        return;
                }
                v /= 1000;
                break;
        case CONFIG_MODE:
                snprintf(buf, size, "%04" PRIo64, v);
                return;
        default:
                break;
        }
        snprintf(buf, size, "%" PRIu64, v);
}

/* parse_seconds_ms() refuses zero, which is a fine value for a grace period. */
static bool
seconds_are_zero(const char *s)
{
        size_t n = strspn(s, "0");

        if (s[n] == '.')
                n += 1 + strspn(s + n + 1, "0");
        return n > 0 && s[n] == 0 && strcmp(s, ".") != 0;
}

static int
parse_mode(const char *s, uint64_t *ret)
{
        uint64_t v = 0;

        if (!*s || strspn(s, "01234567") != strlen(s) || strlen(s) > 5)
                return -EINVAL;
        for (; *s; s++)
                v = v * 8 + (uint64_t) (*s - '0');
        *ret = v;
        return 0;
}

static int
config_parse_number(const struct config_key *k, const char *value, uint64_t *ret)
{
        int r;

        switch (k->kind) {
        case CONFIG_UINT:
                return parse_u64(value, ret);
        case CONFIG_SIZE:
                return parse_size(value, ret);
        case CONFIG_MODE:
                return parse_mode(value, ret);
        case CONFIG_CPUS:
                /* The same syntax: a decimal fraction, kept to thousandths. */
                return parse_seconds_ms(value, k->max, ret);
        case CONFIG_SECONDS:
                r = parse_seconds_ms(value, k->max, ret);
                if (r == -ERANGE && seconds_are_zero(value)) {
                        *ret = 0;
                        return 0;
                }
                return r;
        default:
                return -EINVAL;
        }
}

static const char *
config_kind_syntax(enum config_kind kind)
{
        switch (kind) {
        case CONFIG_UINT:
                return "not a decimal integer";
        case CONFIG_SIZE:
                return "not a size (an integer with an optional K, M, G or T suffix)";
        case CONFIG_SECONDS:
                return "not a number of seconds";
        case CONFIG_CPUS:
                return "not a number of CPUs such as 0.5 or 2";
        case CONFIG_MODE:
                return "not an octal mode such as 0660";
        default:
                return "not valid";
        }
}

static int
config_range_error(const struct config_key *k, const char *value, char **ret_error)
{
        char lo[32], hi[32];

        config_format(k->kind, k->min, lo, sizeof lo);
        config_format(k->kind, k->max, hi, sizeof hi);
        if (asprintf(ret_error, "%s = %s: must be between %s and %s", k->name, value, lo, hi) < 0)
                return -ENOMEM;
        return -EINVAL;
}

static int
config_check_path(const char *path)
{
        return path[0] == '/' && strlen(path) < SOCKET_PATH_MAX ? 0 : -EINVAL;
}

/* "numpy, json": blanks around the commas are allowed, none inside a name. On
 * a bad name, returns -EINVAL and that name in *ret_bad. */
static int
config_parse_preload(const char *value, char ***ret, char **ret_bad)
{
        _cleanup_free_ char *joined = calloc(1, strlen(value) + 1);
        size_t n = 0;

        if (!joined)
                return -ENOMEM;
        for (const char *p = value; *p;) {
                size_t len = strcspn(p, ",");
                const char *tok = p;

                p += len + (p[len] == ',');
                while (len > 0 && (*tok == ' ' || *tok == '\t'))
                        tok++, len--;
                while (len > 0 && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
                        len--;
                if (len == 0)
                        continue;
                _cleanup_free_ char *name = strndup(tok, len);
                if (!name)
                        return -ENOMEM;
                if (!module_name_is_valid(name)) {
                        *ret_bad = TAKE_PTR(name);
                        return -EINVAL;
                }
                if (n > 0)
                        joined[n++] = ',';
                memcpy(joined + n, name, len);
                n += len;
        }
        return parse_module_list(joined, ret);
}

/* State of one config_load(): a shallow copy of the configuration being
 * changed, which of its strings are ours, and the first error met. */
struct config_loader {
        struct vivarium_config new;
        bool own_socket_path, own_user, own_preload;
        FILE *f;
        char *line;
        size_t line_size;
        unsigned lineno;
        int r;
        unsigned error_line;
        char *error; /* without the "FILE:LINE: " prefix */
};

static void
config_loader_done(struct config_loader *l)
{
        if (l->own_socket_path)
                free(l->new.socket_path);
        if (l->own_user)
                free(l->new.user);
        if (l->own_preload)
                strv_free(l->new.preload);
        free(l->line);
        free(l->error);
        if (l->f)
                fclose(l->f);
}

/* Record the first error only: inih keeps going after a failed line. Returns
 * 0, inih's "this line failed", so a handler can return the call. */
static int config_loader_fail(struct config_loader *l, int r, const char *fmt, ...) _printf_(3, 4);

static int
config_loader_fail(struct config_loader *l, int r, const char *fmt, ...)
{
        va_list ap;

        if (l->r < 0)
                return 0;
        l->r = r;
        l->error_line = l->lineno;
        va_start(ap, fmt);
        if (vasprintf(&l->error, fmt, ap) < 0) {
                l->error = NULL;
                l->r = -ENOMEM;
        }
        va_end(ap);
        return 0;
}

/* inih's reader, fgets-style. We read whole lines ourselves so that the line
 * number is ours, an over-long line is an error instead of being split in two
 * by inih's fixed buffer, and leading blanks are dropped: inih would take an
 * indented line for a continuation of the previous value, and with "last one
 * wins" that would silently replace it. */
static char *
config_loader_read(char *buf, int size, void *userdata)
{
        struct config_loader *l = userdata;
        ssize_t n;

        if (l->r < 0)
                return NULL;
        errno = 0;
        n = getline(&l->line, &l->line_size, l->f);
        if (n < 0) {
                if (ferror(l->f))
                        config_loader_fail(l, errno > 0 ? -errno : -EIO, "read error: %m");
                return NULL;
        }
        l->lineno++;
        if (strlen(l->line) != (size_t) n) {
                config_loader_fail(l, -EINVAL, "line contains a NUL byte");
                return NULL;
        }
        if (n > 0 && l->line[n - 1] == '\n')
                l->line[--n] = 0;

        const char *p = l->line + strspn(l->line, " \t");
        size_t len = strlen(p);
        if (size <= 0 || len >= (size_t) size) {
                config_loader_fail(l, -EINVAL, "line is longer than %d bytes", size - 1);
                return NULL;
        }
        memcpy(buf, p, len + 1);
        return buf;
}

/* A name useradd(8) would take: letters, digits, '_', '-' and '.', not
 * starting with '-', at most 32 bytes. */
static bool
user_name_is_valid(const char *s)
{
        size_t n = strlen(s);

        return n > 0 && n <= 32 && s[0] != '-' &&
               strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") == n;
}

static int
config_loader_set_user(struct config_loader *l, const struct config_key *k, const char *value)
{
        char *copy;

        if (!user_name_is_valid(value))
                return config_loader_fail(l, -EINVAL, "%s = %s: not a user name", k->name, value);
        copy = strdup(value);
        if (!copy)
                return config_loader_fail(l, -ENOMEM, "out of memory");
        if (l->own_user)
                free(l->new.user);
        l->new.user = copy;
        l->own_user = true;
        return 1;
}

static int
config_loader_set_string(struct config_loader *l, const struct config_key *k, const char *value)
{
        if (k->kind == CONFIG_USER)
                return config_loader_set_user(l, k, value);
        if (k->kind == CONFIG_PATH) {
                if (config_check_path(value) < 0)
                        return config_loader_fail(l, -EINVAL,
                                                  "%s = %s: must be an absolute path of at most %zu bytes",
                                                  k->name, value, SOCKET_PATH_MAX - 1);
                char *copy = strdup(value);
                if (!copy)
                        return config_loader_fail(l, -ENOMEM, "out of memory");
                if (l->own_socket_path)
                        free(l->new.socket_path);
                l->new.socket_path = copy;
                l->own_socket_path = true;
                return 1;
        }

        _cleanup_free_ char *bad = NULL;
        char **list = NULL;
        int r = config_parse_preload(value, &list, &bad);
        if (r == -EINVAL)
                return config_loader_fail(l, r, "%s = %s: '%s' is not a Python module name", k->name, value,
                                          bad ? bad : "");
        if (r < 0)
                return config_loader_fail(l, r, "out of memory");
        if (l->own_preload)
                strv_free(l->new.preload);
        l->new.preload = list;
        l->new.preload_if_installed = false;
        l->own_preload = true;
        return 1;
}

static const struct config_key *
config_key_find(const char *section, const char *name)
{
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
                if (strcmp(config_keys[i].section, section) == 0 && strcmp(config_keys[i].name, name) == 0)
                        return &config_keys[i];
        return NULL;
}

static bool
config_section_known(const char *section)
{
        for (size_t i = 0; i < ELEMENTSOF(config_sections); i++)
                if (strcmp(config_sections[i], section) == 0)
                        return true;
        return false;
}

/* inih's handler: 1 to go on, 0 for an error (already recorded). */
static int
config_loader_handle(void *userdata, const char *section, const char *name, const char *value)
{
        struct config_loader *l = userdata;
        const struct config_key *k;
        _cleanup_free_ char *why = NULL;
        uint64_t v;
        int r;

        if (l->r < 0)
                return 0;
        if (!*section)
                return config_loader_fail(l, -EINVAL, "'%s' is not in any [section]", name);
        if (!config_section_known(section)) {
                if (strncmp(section, "environment.", strlen("environment.")) == 0)
                        return config_loader_fail(
                                l, -EINVAL, "[%s]: only the default environment is configurable so far",
                                section);
                return config_loader_fail(l, -EINVAL, "unknown section [%s]", section);
        }
        k = config_key_find(section, name);
        if (!k)
                return config_loader_fail(l, -EINVAL, "unknown key '%s' in [%s]", name, section);
        if (k->kind == CONFIG_PATH || k->kind == CONFIG_USER || k->kind == CONFIG_MODULES)
                return config_loader_set_string(l, k, value);

        r = config_parse_number(k, value, &v);
        if (r == -EINVAL)
                return config_loader_fail(l, r, "%s = %s: %s", k->name, value, config_kind_syntax(k->kind));
        if (r < 0 || v < k->min || v > k->max) {
                r = config_range_error(k, value, &why);
                return config_loader_fail(l, r, "%s", why ? why : "out of memory");
        }
        config_field_set(&l->new, k, v);
        return 1;
}

static int config_error(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);

static int
config_error(char **ret_error, int r, const char *fmt, ...)
{
        va_list ap;

        if (!ret_error)
                return r;
        va_start(ap, fmt);
        if (vasprintf(ret_error, fmt, ap) < 0) {
                *ret_error = NULL;
                r = -ENOMEM;
        }
        va_end(ap);
        return r;
}

int
config_load(struct vivarium_config *c, const char *path, char **ret_error)
{
        _cleanup_(config_loader_done) struct config_loader l = {.new = *c};
        int r;

        l.f = fopen(path, "re");
        if (!l.f) {
                r = negative_errno();
                return config_error(ret_error, r, "%s: %s", path, strerror(-r));
        }

        r = ini_parse_stream(config_loader_read, &l, config_loader_handle, &l);
        /* A syntax error inih found by itself before our first error comes first. */
        if (r > 0 && (l.r == 0 || (unsigned) r < l.error_line))
                return config_error(ret_error, -EINVAL,
                                    "%s:%d: expected '[section]', 'key = value' or a comment", path, r);
        if (l.r < 0) {
                if (!l.error) {
                        if (ret_error)
                                *ret_error = NULL;
                        return l.r;
                }
                return config_error(ret_error, l.r, "%s:%u: %s", path, l.error_line, l.error);
        }
        if (r < 0)
                return config_error(ret_error, -ENOMEM, "%s: out of memory", path);

        if (l.own_socket_path) {
                free(c->socket_path);
                l.own_socket_path = false;
        }
        if (l.own_user) {
                free(c->user);
                l.own_user = false;
        }
        if (l.own_preload) {
                strv_free(c->preload);
                l.own_preload = false;
        }
        *c = l.new;
        return 0;
}

int
config_validate(const struct vivarium_config *c, char **ret_error)
{
        char a[32], b[32];

        /* Command-line options land here without passing through the file's checks. */
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++) {
                const struct config_key *k = &config_keys[i];
                _cleanup_free_ char *why = NULL;
                uint64_t v;
                int r;

                if (k->kind == CONFIG_PATH || k->kind == CONFIG_USER || k->kind == CONFIG_MODULES)
                        continue;
                v = config_field_get(c, k);
                if ((v >= k->min && v <= k->max) || (k->kind == CONFIG_CPUS && v == 0))
                        continue;
                config_format(k->kind, v, a, sizeof a);
                r = config_range_error(k, a, &why);
                if (ret_error)
                        *ret_error = TAKE_PTR(why);
                return r;
        }
        if (c->socket_path && config_check_path(c->socket_path) < 0)
                return config_error(ret_error, -EINVAL,
                                    "socket = %s: must be an absolute path of at most %zu bytes",
                                    c->socket_path, SOCKET_PATH_MAX - 1);
        if (c->user && !user_name_is_valid(c->user))
                return config_error(ret_error, -EINVAL, "user = %s: not a user name", c->user);
        for (char **p = c->preload; p && *p; p++)
                if (!module_name_is_valid(*p))
                        return config_error(ret_error, -EINVAL, "preload: '%s' is not a Python module name",
                                            *p);

        if (c->max_timeout_ms < c->default_timeout_ms) {
                config_format(CONFIG_SECONDS, c->default_timeout_ms, a, sizeof a);
                config_format(CONFIG_SECONDS, c->max_timeout_ms, b, sizeof b);
                return config_error(ret_error, -EINVAL,
                                    "timeout = %s is above max_timeout = %s: the default timeout must not "
                                    "exceed the longest one allowed",
                                    a, b);
        }
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        if (online > 0 && c->limits.cpu_milli > (uint64_t) online * 1000) {
                config_format(CONFIG_CPUS, c->limits.cpu_milli, a, sizeof a);
                return config_error(ret_error, -EINVAL,
                                    "cpus = %s is above the %ld CPU(s) online: a run could never use that "
                                    "much, so it would limit nothing",
                                    a, online);
        }
        if (c->idle_workers > c->max_workers)
                return config_error(ret_error, -EINVAL,
                                    "idle_workers = %" PRIu32 " is above max_workers = %" PRIu32
                                    ": idle workers count against the maximum",
                                    c->idle_workers, c->max_workers);
        return 0;
}

int
config_socket_path(const struct vivarium_config *c, char **ret)
{
        const char *dir;
        char *p = NULL;

        if (c->socket_path)
                p = strdup(c->socket_path);
        else if ((dir = secure_getenv("XDG_RUNTIME_DIR")) && dir[0] == '/') {
                if (asprintf(&p, "%s/vivarium.sock", dir) < 0)
                        p = NULL;
        } else if (geteuid() == 0)
                p = strdup("/run/vivarium/vivarium.sock");
        else
                /* No safe shared default: /tmp would let another user squat the name. */
                return -ENOENT;
        if (!p)
                return -ENOMEM;
        if (strlen(p) >= SOCKET_PATH_MAX) {
                free(p);
                return -ENAMETOOLONG;
        }
        *ret = p;
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The request model as a method table: ping, run, cancel, status. Runs in
 * the dispatcher on requests that passed frame validation; every field is
 * still checked for presence, type and range, and every failure maps to one
 * error code of PROTOCOL.md with a message that names the field.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "daemon-internal.h"
#include "log.h"
#include "macro.h"
#include "msg.h"
#include "run-limits.h"
#include "time-util.h"

struct method {
        const char *name;
        void (*handle)(struct connection *c, uint64_t id, const msgpack_object *params);
};

static void
send_result(struct connection *c, uint64_t id, void (*fill)(msgpack_packer *pk, const void *arg),
            const void *arg)
{
        msgpack_sbuffer sb;
        msgpack_packer pk;

        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 2);
        proto_pack_key_uint(&pk, "id", id);
        proto_pack_str(&pk, "result");
        if (fill)
                fill(&pk, arg);
        else
                msgpack_pack_map(&pk, 0);
        (void) connection_send(c, &sb);
        msgpack_sbuffer_destroy(&sb);
}

_printf_(4, 5) static void send_error(struct connection *c, uint64_t id, int code, const char *fmt, ...)
{
        char message[512];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(message, sizeof message, fmt, ap);
        va_end(ap);
        c->server->errors++;
        (void) connection_send_error(c, id, code, message);
}

static void
method_ping(struct connection *c, uint64_t id, const msgpack_object *params)
{
        send_result(c, id, NULL, NULL);
}

static struct inflight *
inflight_find(struct connection *c, uint64_t id)
{
        struct list_node *n, *tmp;

        list_for_each_safe(n, tmp, &c->requests)
        {
                struct inflight *f = list_entry(n, struct inflight, node);
                if (f->id == id)
                        return f;
        }
        return NULL;
}

static void
inflight_free(struct inflight *f)
{
        list_remove(&f->node);
        f->conn->n_inflight--;
        free(f);
}

void
inflight_cancel_all(struct connection *c)
{
        struct list_node *n, *tmp;

        list_for_each_safe(n, tmp, &c->requests)
        {
                struct inflight *f = list_entry(n, struct inflight, node);
                struct pool_job *job = f->job;
                inflight_free(f);
                pool_job_abandon(job);
        }
}

static void
on_job_output(struct pool_job *job, int stream, const void *data, size_t size, void *userdata)
{
        struct inflight *f = userdata;
        uint64_t cap = f->conn->server->config.output_bytes;
        msgpack_sbuffer sb;
        msgpack_packer pk;

        if (!f->stream || f->streamed[stream] >= cap)
                return;
        size = MIN(size, (size_t) (cap - f->streamed[stream]));
        f->streamed[stream] += size;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 3);
        proto_pack_key_uint(&pk, "id", f->id);
        proto_pack_key_str(&pk, "event", stream == 1 ? "stdout" : "stderr");
        proto_pack_key_bin(&pk, "data", data, size);
        (void) connection_send(f->conn, &sb);
        msgpack_sbuffer_destroy(&sb);
}

static void
fill_run_result(msgpack_packer *pk, const void *arg)
{
        (void) run_result_pack(pk, arg);
}

static void
on_job_done(struct pool_job *job, const struct run_result *result, int error, const char *message,
            void *userdata)
{
        struct inflight *f = userdata;
        struct connection *c = f->conn;
        uint64_t id = f->id;

        inflight_free(f);
        server_count(c->server, result, error < 0);
        if (error < 0)
                send_error(c, id, RPC_INTERNAL_ERROR, "%s", message ? message : strerror(-error));
        else
                send_result(c, id, fill_run_result, result);
        server_maybe_exit(c->server);
}

static const struct pool_job_ops job_ops = {
        .output = on_job_output,
        .done = on_job_done,
};

static bool
env_name_is_valid(const char *s, size_t n)
{
        if (n == 0 || n > CONFIG_ENV_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
                      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
                        return false;
        return true;
}

/* An optional parameter: NULL when absent or nil. */
static const msgpack_object *
param(const msgpack_object *params, const char *key)
{
        const msgpack_object *o = params ? proto_map_get(params, key) : NULL;

        return o && o->type != MSGPACK_OBJECT_NIL ? o : NULL;
}

struct run_params {
        struct run_request req;
        bool stream;
        char why[320]; /* a message built for this request */
};

static struct run_limits_bounds
limits_bounds(const struct server *s)
{
        struct pool_stats st;
        long online = sysconf(_SC_NPROCESSORS_ONLN);

        pool_get_stats(s->pool, &st);
        return (struct run_limits_bounds){
                .daemon = st.limits,
                .cpu_quota_usable = st.cpu_quota_usable,
                .cpus_online = online > 0 ? (unsigned) online : 0,
        };
}

/* Returns 0, or an RPC error code with *why naming the problem. */
static int
parse_run(const struct server *s, const msgpack_object *params, struct run_params *ret, const char **why)
{
        const msgpack_object *o;

        *ret = (struct run_params){.req.timeout_ms = s->config.default_timeout_ms};
        if (!(o = param(params, "code")) || o->type != MSGPACK_OBJECT_STR)
                return *why = "params.code is required and must be a string", RPC_INVALID_PARAMS;
        ret->req.code = o->via.str.ptr;
        ret->req.code_len = o->via.str.size;
        if ((o = param(params, "timeout_ms"))) {
                if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 == 0)
                        return *why = "params.timeout_ms must be an unsigned integer of at least 1",
                               RPC_INVALID_PARAMS;
                ret->req.timeout_ms = MIN(o->via.u64, s->config.max_timeout_ms);
        }
        if ((o = param(params, "stdin"))) {
                if (o->type == MSGPACK_OBJECT_BIN)
                        ret->req.stdin_data = o->via.bin.ptr, ret->req.stdin_len = o->via.bin.size;
                else if (o->type == MSGPACK_OBJECT_STR)
                        ret->req.stdin_data = o->via.str.ptr, ret->req.stdin_len = o->via.str.size;
                else
                        return *why = "params.stdin must be bin or str", RPC_INVALID_PARAMS;
        }
        if ((o = param(params, "stream"))) {
                if (o->type != MSGPACK_OBJECT_BOOLEAN)
                        return *why = "params.stream must be a boolean", RPC_INVALID_PARAMS;
                ret->stream = o->via.boolean;
        }
        if ((o = param(params, "env"))) {
                if (o->type != MSGPACK_OBJECT_STR || !env_name_is_valid(o->via.str.ptr, o->via.str.size))
                        return *why = "params.env must be a name of 1 to 64 letters, digits, '_' or '-'",
                               RPC_INVALID_PARAMS;
                if (o->via.str.size != strlen(POOL_DEFAULT_ENV) ||
                    memcmp(o->via.str.ptr, POOL_DEFAULT_ENV, o->via.str.size) != 0)
                        return *why = "no such environment (only 'default' exists)", RPC_NO_SUCH_ENVIRONMENT;
        }
        struct run_limits_bounds bounds = limits_bounds(s);
        if (run_limits_parse(params, &bounds, &ret->req.limits, ret->why, sizeof ret->why) < 0)
                return *why = ret->why, RPC_INVALID_PARAMS;
        if ((o = param(params, "session"))) {
                if (o->type != MSGPACK_OBJECT_STR)
                        return *why = "params.session must be a string", RPC_INVALID_PARAMS;
                return *why = "no such session", RPC_NO_SUCH_SESSION;
        }
        return 0;
}

static void
method_run(struct connection *c, uint64_t id, const msgpack_object *params)
{
        struct server *s = c->server;
        struct run_params rp;
        const char *why = NULL, *message = NULL;
        struct inflight *f;
        int code, r;

        code = parse_run(s, params, &rp, &why);
        if (code != 0)
                return send_error(c, id, code, "%s", why);
        if (c->n_inflight >= s->config.max_inflight)
                return send_error(c, id, RPC_TOO_MANY_REQUESTS,
                                  "more than %u requests in flight on this connection",
                                  s->config.max_inflight);
        f = calloc(1, sizeof *f);
        if (!f)
                return send_error(c, id, RPC_INTERNAL_ERROR, "out of memory");
        *f = (struct inflight){.conn = c, .id = id, .stream = rp.stream};
        list_init(&f->node);
        r = pool_submit(s->pool, POOL_DEFAULT_ENV, &rp.req, &job_ops, f, &f->job, &message);
        if (r < 0) {
                free(f);
                if (r == -EAGAIN)
                        return send_error(c, id, RPC_OVERLOADED,
                                          "overloaded: the queue of environment '%s' is full",
                                          POOL_DEFAULT_ENV);
                if (r == -ENOENT)
                        return send_error(c, id, RPC_NO_SUCH_ENVIRONMENT, "no such environment");
                return send_error(c, id, RPC_INTERNAL_ERROR, "environment '%s' is unavailable: %s",
                                  POOL_DEFAULT_ENV, message ? message : strerror(-r));
        }
        /* pool_submit may have finished the job already (never today, but the
         * contract allows it); only track it if it is still running. */
        list_append(&c->requests, &f->node);
        c->n_inflight++;
}

static void
method_cancel(struct connection *c, uint64_t id, const msgpack_object *params)
{
        const msgpack_object *o = param(params, "id");
        struct inflight *f;

        if (!o || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
                return send_error(c, id, RPC_INVALID_PARAMS,
                                  "params.id must be the id of a request in flight");
        f = inflight_find(c, o->via.u64);
        if (!f)
                return send_error(c, id, RPC_INVALID_PARAMS, "no request %llu in flight on this connection",
                                  (unsigned long long) o->via.u64);
        send_result(c, id, NULL, NULL);
        pool_job_cancel(f->job);
}

static void
fill_status(msgpack_packer *pk, const void *arg)
{
        const struct server *s = arg;
        struct pool_stats st;
        size_t n_preload;

        pool_get_stats(s->pool, &st);
        n_preload = 0;
        while (st.env.preload && st.env.preload[n_preload])
                n_preload++;
        msgpack_pack_map(pk, 10);
        proto_pack_key_str(pk, "version", PACKAGE_VERSION);
        proto_pack_key_double(pk, "uptime_s", (double) (now_usec() - s->started_usec) / 1e6);
        proto_pack_key_uint(pk, "connections", s->n_connections);
        proto_pack_str(pk, "isolation");
        msgpack_pack_map(pk, 9);
        proto_pack_key_str(pk, "mode", s->root ? "root" : "unprivileged");
        /* What holds a run's memory (vivarium-security(7)). */
        proto_pack_key_str(pk, "memory", st.memory);
        proto_pack_key_uint(pk, "memory_period_ms", st.memory_period_ms);
        proto_pack_key_str(pk, "idmap", st.idmap);
        proto_pack_key_str(pk, "cgroup", st.cgroup);
        proto_pack_key_str(pk, "cgroup_scope", st.cgroup_scope);
        proto_pack_key_double(pk, "cpus", st.cpus);
        proto_pack_key_bool(pk, "landlock", st.landlock);
        proto_pack_key_bool(pk, "seccomp", true);
        /* What a run gets unless it asks for less (memory_mb, processes, cpus). */
        proto_pack_str(pk, "limits");
        msgpack_pack_map(pk, 6);
        proto_pack_key_uint(pk, "memory_mb", st.limits.memory_bytes >> 20);
        proto_pack_key_uint(pk, "processes", st.limits.nproc);
        proto_pack_key_double(pk, "cpus", st.limits.cpu_milli / 1000.0);
        proto_pack_key_bool(pk, "cpu_quota_usable", st.cpu_quota_usable);
        proto_pack_key_uint(pk, "timeout_ms", s->config.default_timeout_ms);
        proto_pack_key_uint(pk, "max_timeout_ms", s->config.max_timeout_ms);
        proto_pack_key_uint(pk, "idle_workers", st.env.idle);
        proto_pack_key_uint(pk, "busy_workers", st.env.busy);
        proto_pack_key_uint(pk, "queue_depth", st.env.queued);
        proto_pack_str(pk, "environments");
        msgpack_pack_array(pk, 1);
        msgpack_pack_map(pk, 9);
        proto_pack_key_str(pk, "name", st.env.name);
        proto_pack_str(pk, "preload");
        msgpack_pack_array(pk, n_preload);
        for (size_t i = 0; i < n_preload; i++)
                proto_pack_str(pk, st.env.preload[i]);
        proto_pack_key_str(pk, "state", st.env.state);
        proto_pack_key_uint(pk, "restarts", st.env.restarts);
        proto_pack_key_uint(pk, "idle_workers", st.env.idle);
        proto_pack_key_uint(pk, "busy_workers", st.env.busy);
        proto_pack_key_uint(pk, "starting_workers", st.env.starting);
        proto_pack_key_uint(pk, "queue_depth", st.env.queued);
        proto_pack_key_uint(pk, "queue_limit", st.env.queue_limit);
        proto_pack_str(pk, "requests");
        msgpack_pack_map(pk, 2 + _RUN_STATUS_MAX);
        proto_pack_key_uint(pk, "served", s->served);
        proto_pack_key_uint(pk, "errors", s->errors);
        for (int i = 0; i < _RUN_STATUS_MAX; i++)
                proto_pack_key_uint(pk, run_status_to_string((enum run_status) i), s->by_status[i]);
}

static void
method_status(struct connection *c, uint64_t id, const msgpack_object *params)
{
        send_result(c, id, fill_status, c->server);
}

static const struct method methods[] = {
        {"ping", method_ping},
        {"run", method_run},
        {"cancel", method_cancel},
        {"status", method_status},
};

void
methods_dispatch(struct connection *c, const msgpack_object *request)
{
        const msgpack_object *id_o = proto_map_get(request, "id");
        const msgpack_object *params = proto_map_get(request, "params");
        const char *method;
        size_t len;
        uint64_t id;

        if (!id_o || id_o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || id_o->via.u64 == 0)
                return send_error(c, 0, RPC_INVALID_REQUEST,
                                  "invalid request: id must be an unsigned integer above 0");
        id = id_o->via.u64;
        if (proto_map_get_str(request, "method", &method, &len) < 0)
                return send_error(c, id, RPC_INVALID_REQUEST, "invalid request: method must be a string");
        if (params && params->type == MSGPACK_OBJECT_NIL)
                params = NULL;
        if (params && params->type != MSGPACK_OBJECT_MAP)
                return send_error(c, id, RPC_INVALID_REQUEST, "invalid request: params must be a map");
        if (inflight_find(c, id))
                return send_error(c, id, RPC_INVALID_REQUEST,
                                  "invalid request: id %llu is already in flight", (unsigned long long) id);
        for (size_t i = 0; i < ELEMENTSOF(methods); i++) {
                if (strlen(methods[i].name) != len || memcmp(methods[i].name, method, len) != 0)
                        continue;
                if (c->server->shutting_down && methods[i].handle == method_run)
                        return send_error(c, id, RPC_SHUTTING_DOWN,
                                          "shutting down: no new work is accepted");
                return methods[i].handle(c, id, params);
        }
        send_error(c, id, RPC_METHOD_NOT_FOUND, "method not found: '%.*s'", (int) MIN(len, (size_t) 64),
                   method);
}

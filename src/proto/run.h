/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The `run` result model of PROTOCOL.md, shared by every face (CLI, daemon,
 * MCP). A Python exception, a timeout or a memory kill are results, not errors.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "capbuf.h"

enum run_status {
        RUN_OK,
        RUN_EXCEPTION,
        RUN_TIMEOUT,
        RUN_MEMORY,
        RUN_KILLED, /* by a signal that was not ours */
        RUN_CANCELLED,
        RUN_CRASHED, /* the interpreter died */
        _RUN_STATUS_MAX,
};

struct run_image {
        char *mime;
        void *data;
        size_t size;
};

struct run_result {
        enum run_status status;
        struct capbuf out, err;
        bool out_truncated, err_truncated; /* set when a server reported it (client side) */
        uint64_t out_total, err_total;     /* bytes the code wrote, as a server reported (client side) */
        char *value;                       /* repr of the last expression, or NULL */
        bool has_exception;
        char *exc_type, *exc_message, *exc_traceback;
        struct run_image *images;
        size_t n_images;
        uint64_t images_omitted;
        double wall_ms, cpu_ms;
        uint64_t max_rss_kb;
        char *detail; /* what happened, for statuses without an exception */
        /* The limits the run had (extension "limits"): the service's, or
         * lower ones the request asked for. memory_mb 0: not reported. */
        struct {
                uint64_t memory_mb, processes;
                double cpus; /* 0: no CPU quota */
        } limits;
};

const char *run_status_to_string(enum run_status s);
int run_status_from_string(const char *s, size_t len, enum run_status *ret);
void run_result_done(struct run_result *r);

#include <msgpack.h>

/* The `run` result map of PROTOCOL.md (plus images_omitted, detail, limits). */
int run_result_pack(msgpack_packer *pk, const struct run_result *r);
/* Parse a result map received from a server into r (r's capbufs must be
 * initialised; output beyond their caps is counted as truncated). */
int run_result_unpack(const msgpack_object *m, struct run_result *r);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The run result model: status names and clean-up. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "run.h"

static const char *const status_names[_RUN_STATUS_MAX] = {
        [RUN_OK] = "ok",           [RUN_EXCEPTION] = "exception", [RUN_TIMEOUT] = "timeout",
        [RUN_MEMORY] = "memory",   [RUN_KILLED] = "killed",       [RUN_CANCELLED] = "cancelled",
        [RUN_CRASHED] = "crashed",
};

const char *
run_status_to_string(enum run_status s)
{
        return (size_t) s < ELEMENTSOF(status_names) ? status_names[s] : NULL;
}

int
run_status_from_string(const char *s, size_t len, enum run_status *ret)
{
        for (size_t i = 0; i < ELEMENTSOF(status_names); i++)
                if (strlen(status_names[i]) == len && memcmp(status_names[i], s, len) == 0) {
                        *ret = (enum run_status) i;
                        return 0;
                }
        return -EINVAL;
}

void
run_result_done(struct run_result *r)
{
        capbuf_done(&r->out);
        capbuf_done(&r->err);
        free(r->value);
        free(r->exc_type);
        free(r->exc_message);
        free(r->exc_traceback);
        for (size_t i = 0; i < r->n_images; i++) {
                free(r->images[i].mime);
                free(r->images[i].data);
        }
        free(r->images);
        free(r->detail);
        memset(r, 0, sizeof *r);
}

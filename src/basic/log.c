/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * stderr logger shared by every process of vivarium. It never allocates, so it
 * is safe in a forked child before exec and in the zygote between forks.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

static enum log_level max_level = LOG_LEVEL_WARNING;
static const char *log_ident = "vivarium";

void
log_set_level(enum log_level level)
{
        max_level = level;
}

enum log_level
log_get_level(void)
{
        return max_level;
}

void
log_set_ident(const char *ident)
{
        log_ident = ident;
}

void
log_parse_environment(void)
{
        static const char *const names[] = {"error", "warning", "info", "debug"};
        const char *e = getenv("VIVARIUM_LOG_LEVEL");

        if (!e)
                return;
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (strcmp(e, names[i]) == 0)
                        max_level = (enum log_level) i;
}

int
log_internal(enum log_level level, int error, const char *fmt, ...)
{
        char buf[2048];
        int saved = errno;
        size_t n;
        va_list ap;

        if (level > max_level)
                return error;

        n = (size_t) snprintf(buf, sizeof buf, "%s: ", log_ident);
        if (n >= sizeof buf)
                n = 0;
        va_start(ap, fmt);
        if (error != 0)
                errno = error < 0 ? -error : error;
        (void) vsnprintf(buf + n, sizeof buf - n, fmt, ap);
        va_end(ap);
        n = strlen(buf);
        if (n >= sizeof buf - 1)
                n = sizeof buf - 2;
        buf[n++] = '\n';
        (void) !write(STDERR_FILENO, buf, n);
        errno = saved;
        return error;
}

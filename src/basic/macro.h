/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Common macros: cleanup attributes, ownership transfer, array sizes.
 * Used in every trust zone; no state, no allocation of its own.
 */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _noreturn_ __attribute__((noreturn))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)
#define _warn_unused_result_ __attribute__((warn_unused_result))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

/* Move ownership out of a cleanup-managed variable. */
#define TAKE_PTR(p)                       \
        ({                                \
                __typeof__(p) _tp_ = (p); \
                (p) = NULL;               \
                _tp_;                     \
        })
#define TAKE_FD(fd)              \
        ({                       \
                int _tf_ = (fd); \
                (fd) = -EBADF;   \
                _tf_;            \
        })

static inline void
freep(void *p)
{
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

/* Close an fd without retrying on EINTR (Linux always releases the fd). Returns -EBADF. */
static inline int
safe_close(int fd)
{
        if (fd >= 0) {
                int saved = errno;
                (void) close(fd);
                errno = saved;
        }
        return -EBADF;
}

static inline void
closep(int *fd)
{
        safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

static inline void
close_pairp(int (*p)[2])
{
        safe_close((*p)[0]);
        safe_close((*p)[1]);
}
#define _cleanup_close_pair_ _cleanup_(close_pairp)

/* Define a cleanup helper for a type with a free function that accepts NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func) \
        static inline void func##p(type *p)     \
        {                                       \
                if (*p)                         \
                        func(*p);               \
        }

/* Return -errno of the last failed libc call, never 0. */
static inline int
negative_errno(void)
{
        return errno > 0 ? -errno : -EIO;
}

static inline void *
mfree(void *p)
{
        free(p);
        return NULL;
}

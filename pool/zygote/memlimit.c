/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Was it the memory limit? Runs in a worker, inside the jail, after its
 * lockdown; only in rlimit mode, where the memory limit is RLIMIT_AS.
 *
 * An allocation that RLIMIT_AS refuses reaches the code as a MemoryError
 * (Python's allocators, numpy) or as an OSError with errno ENOMEM
 * (mmap.mmap). Neither proves the limit: the kernel also says ENOMEM when
 * overcommit refuses a mapping or vm.max_map_count is reached, and code can
 * raise either exception itself. The kernel checks RLIMIT_AS first
 * (may_expand_vm() comes before the overcommit check in mmap, brk and
 * mremap), so an allocation is the limit's doing exactly when the address
 * space it needed did not fit under the limit. We therefore watch the
 * allocations we can see and remember one that the limit refused:
 *
 *   - Python's three allocator domains (every object, bytes, bytearray,
 *     list ...), hooked with PyMem_SetAllocator as tracemalloc does; a hook
 *     only looks at an allocation that failed.
 *   - mmap.mmap, through its audit event, which carries the length before
 *     the module maps anything.
 *
 * Anything else (numpy's arrays, other C extensions) allocates with malloc
 * directly; for those the caller passes what the exception says about the
 * size (numpy's does), or nothing, and we judge by the address space when
 * the code ended.
 *
 * Invariants: the hooks call the allocators they replaced and never
 * allocate; the failure path reads /proc/self/statm with a stack buffer, so
 * it is safe in the raw domain without the GIL; if the address space cannot
 * be read, nothing is blamed on the limit.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "memlimit.h"

/* Address space an allocation may need beyond its size: when glibc cannot
 * grow its heap with brk it maps at least 1 MiB, and pymalloc maps 1 MiB
 * arenas for small objects. */
#define ALLOC_GRAIN (4ULL << 20)

static uint64_t limit_bytes; /* 0: not watching */
static bool refused;         /* an allocation failed against the limit, this run */

struct hook {
        PyMemAllocatorDomain domain;
        PyMemAllocatorEx orig;
};

static struct hook hooks[] = {
        {PYMEM_DOMAIN_RAW, {}},
        {PYMEM_DOMAIN_MEM, {}},
        {PYMEM_DOMAIN_OBJ, {}},
};

/* The address space now, in bytes; 0 if it cannot be read. */
static uint64_t
address_space_now(void)
{
        char buf[128];
        unsigned long long pages;
        ssize_t n;
        int fd;

        fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        n = read(fd, buf, sizeof buf - 1);
        (void) close(fd);
        if (n <= 0)
                return 0;
        buf[n] = '\0';
        if (sscanf(buf, "%llu", &pages) != 1)
                return 0;
        return (uint64_t) pages * (uint64_t) sysconf(_SC_PAGESIZE);
}

/* Would `size` more bytes (plus what allocators round up) pass the limit?
 * A request larger than the limit itself is over it even where something
 * else refuses it first (glibc or the kernel, for sizes beyond the address
 * space): the code asked for more than its limit. */
static bool
beyond_limit(uint64_t size, uint64_t grain)
{
        uint64_t now;

        if (limit_bytes == 0)
                return false;
        if (size >= limit_bytes)
                return true;
        now = address_space_now();
        return now != 0 && now + size + grain > limit_bytes;
}

static void
note_failure(size_t size)
{
        if (beyond_limit(size, ALLOC_GRAIN))
                __atomic_store_n(&refused, true, __ATOMIC_RELAXED);
}

static void *
hook_malloc(void *ctx, size_t size)
{
        const struct hook *h = ctx;
        void *p = h->orig.malloc(h->orig.ctx, size);

        if (!p)
                note_failure(size);
        return p;
}

static void *
hook_calloc(void *ctx, size_t nelem, size_t elsize)
{
        const struct hook *h = ctx;
        void *p = h->orig.calloc(h->orig.ctx, nelem, elsize);

        if (!p)
                note_failure(elsize != 0 && nelem > SIZE_MAX / elsize ? SIZE_MAX : nelem * elsize);
        return p;
}

static void *
hook_realloc(void *ctx, void *ptr, size_t size)
{
        const struct hook *h = ctx;
        void *p = h->orig.realloc(h->orig.ctx, ptr, size);

        /* Counting all of the new size, not the growth: a moving realloc
         * needs it all, and mremap growing in place is rare for Python. */
        if (!p && size > 0)
                note_failure(size);
        return p;
}

static void
hook_free(void *ctx, void *ptr)
{
        const struct hook *h = ctx;

        h->orig.free(h->orig.ctx, ptr);
}

/* An unsigned integer argument of an audit event; -1 if it is none. */
static long long
audit_arg(PyObject *args, Py_ssize_t i)
{
        PyObject *o = PyTuple_GET_ITEM(args, i);
        long long v;

        if (!PyLong_Check(o))
                return -1;
        v = PyLong_AsLongLong(o);
        if (v == -1 && PyErr_Occurred())
                PyErr_Clear();
        return v;
}

/* mmap.mmap(fileno, length, access, offset): the event comes before the
 * module maps anything, and the kernel refuses a mapping that does not fit
 * before it maps anything either. Length 0 (the whole file) is left alone,
 * and so is a file mapping the module will refuse itself (past the end of a
 * regular file): only a mapping the kernel will be asked for counts. */
static int
audit_hook(const char *event, PyObject *args, void *userdata)
{
        long long fileno, length, offset;
        struct stat st;

        if (strcmp(event, "mmap.__new__") != 0 || !PyTuple_Check(args) || PyTuple_GET_SIZE(args) < 4)
                return 0;
        fileno = audit_arg(args, 0);
        length = audit_arg(args, 1);
        offset = audit_arg(args, 3);
        if (length <= 0 || offset < 0)
                return 0;
        if (fileno != -1 && (fileno < 0 || fstat((int) fileno, &st) < 0 || !S_ISREG(st.st_mode) ||
                             st.st_size - offset < length))
                return 0;
        if (beyond_limit((uint64_t) length, 0))
                __atomic_store_n(&refused, true, __ATOMIC_RELAXED);
        return 0;
}

int
zygote_memlimit_watch(uint64_t requested)
{
        struct rlimit rl;

        refused = false;
        if (requested == 0 || limit_bytes != 0)
                return 0;
        /* The limit in force, which may be below the request's (the worker
         * never raises an inherited hard limit). */
        if (getrlimit(RLIMIT_AS, &rl) < 0)
                return -errno;
        if (rl.rlim_cur == RLIM_INFINITY)
                return 0;
        if (PySys_AddAuditHook(audit_hook, NULL) < 0)
                return -EIO;
        limit_bytes = (uint64_t) rl.rlim_cur;
        for (size_t i = 0; i < ELEMENTSOF(hooks); i++) {
                PyMemAllocatorEx mine = {&hooks[i], hook_malloc, hook_calloc, hook_realloc, hook_free};

                PyMem_GetAllocator(hooks[i].domain, &hooks[i].orig);
                PyMem_SetAllocator(hooks[i].domain, &mine);
        }
        return 0;
}

uint64_t
zygote_memlimit_bytes(void)
{
        return limit_bytes;
}

bool
zygote_memlimit_reached(uint64_t size)
{
        if (limit_bytes == 0)
                return false;
        if (__atomic_load_n(&refused, __ATOMIC_RELAXED))
                return true;
        /* Not seen failing: a numpy array whose size the exception gives,
         * else an allocation of unknown size when nothing more would fit. */
        return beyond_limit(size, ALLOC_GRAIN);
}

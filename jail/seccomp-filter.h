/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The strict seccomp filter of a worker (THREATS.md §A). Built with libseccomp
 * for the native architecture only: any other audit architecture (i386 via
 * int 0x80) and x32 syscall numbers kill the process. Known syscalls are
 * allowed except the denied classes (EPERM); syscalls unknown to the build
 * answer ENOSYS, as does clone3 (so glibc falls back to clone, whose flags can
 * be inspected). Integer arguments are compared on their low 32 bits only.
 */
#pragma once

#include <linux/filter.h>
#include <stdbool.h>
#include <stdio.h>

struct jail_seccomp_options {
        bool allow_inet; /* AF_INET and AF_INET6 sockets (environments with network) */
        /* Instead of a worker's filter, the service's own (the dispatcher after
         * start-up): allow by default; EPERM for exec, namespaces (unshare,
         * setns, clone with a CLONE_NEW* flag), the mount family, tracing and
         * other processes' memory, bpf, perf, io_uring, keyrings, modules,
         * kexec, reboot, swap, clocks, file handles; clone3 ENOSYS. */
        bool service;
};

/* Build and load the filter into the calling process (all threads, TSYNC).
 * Sets no_new_privs first (libseccomp's CTL_NNP), so the caller needs no
 * CAP_SYS_ADMIN. o may be NULL for the defaults (no AF_INET/AF_INET6). */
int jail_seccomp_load(const struct jail_seccomp_options *o);
/* Load a program exported before (the zygote builds it once; a worker only
 * loads it, which costs microseconds instead of libseccomp's milliseconds). */
int jail_seccomp_load_prog(const struct sock_fprog *prog);
/* Export the filter as classic BPF for inspection and tests; free ret->filter. */
int jail_seccomp_export(const struct jail_seccomp_options *o, struct sock_fprog *ret);

/* A worker's filter (the default options) compiled at build time by
 * jail/seccomp-gen, with what the program depends on besides this code:
 * libseccomp's version, and its API level, which it reads from the kernel. */
struct jail_seccomp_prebuilt {
        unsigned major, minor, micro;
        unsigned api;
        unsigned short len;
        const struct sock_filter *filter;
};
/* Defined by the generated jail/seccomp-prebuilt.c, which the zygote and the
 * unit tests link. */
extern const struct jail_seccomp_prebuilt jail_seccomp_worker_prebuilt;
/* The worker's program: the prebuilt one when libseccomp and its API level
 * are those it was built with (ret->filter then points into it: do not free),
 * 0; otherwise nothing, 1 (the caller compiles it with jail_seccomp_export). */
int jail_seccomp_prebuilt_use(const struct jail_seccomp_prebuilt *p, struct sock_fprog *ret);
/* Print a prebuilt program as C source that defines `name` (jail/seccomp-gen). */
int jail_seccomp_prebuilt_print(const char *name, FILE *out);

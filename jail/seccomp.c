/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The strict seccomp filter of a worker (THREATS.md §A), built with
 * libseccomp. Runs in the jail trust zone: the filter is the last thing the
 * worker sets up before it runs untrusted Python, and it is never relaxed.
 *
 * Invariants:
 *  - native architecture only; any other audit arch and x32 numbers kill the
 *    whole process (libseccomp emits the x32 check itself for x86_64 when the
 *    x32 arch is not in the filter: nr >= 0x40000000 and != -1 is "bad arch");
 *  - every syscall libseccomp can name is allowed unless it is in the deny
 *    table (EPERM) or has an argument rule below; everything else, including
 *    syscalls newer than the library and clone3, answers ENOSYS;
 *  - integer arguments that the kernel takes as 32-bit (socket family, ioctl
 *    request, personality, clone flags) are decided by their low 32 bits
 *    only, exactly as the kernel will truncate them;
 *  - argument rules for one syscall never overlap when their actions differ,
 *    because libseccomp does not define which of two matching rules wins.
 */
#include <errno.h>
#include <linux/sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include <seccomp.h>

#include "seccomp-filter.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(scmp_filter_ctx, seccomp_release);

/* High enough for every table libseccomp 2.5 carries (x86_64 ends below 460). */
#define SYSCALL_NR_MAX 1024

/* The denied classes of THREATS.md §A: namespaces and mounts, kernel attack
 * surface with a history of exploits (io_uring, userfaultfd, keys, bpf, perf),
 * looking into other processes, host administration, NUMA and memory
 * placement, SysV and POSIX IPC (shared with other jails through the kernel).
 * Names this libseccomp does not know are skipped; they hit ENOSYS anyway. */
/* clang-format off */
static const char *const deny_names[] = {
        /* namespaces and the mount family */
        "unshare", "setns", "mount", "umount", "umount2", "pivot_root", "chroot",
        "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
        /* kernel attack surface */
        "io_uring_setup", "io_uring_enter", "io_uring_register", "userfaultfd",
        "keyctl", "add_key", "request_key", "perf_event_open", "bpf",
        /* other processes */
        "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
        "process_madvise", "process_mrelease",
        /* file handles bypass path-based confinement */
        "name_to_handle_at", "open_by_handle_at",
        /* host administration */
        "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
        "create_module", "reboot", "swapon", "swapoff", "syslog", "acct",
        "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "stime",
        "quotactl", "quotactl_fd", "lookup_dcookie", "nfsservctl", "vhangup",
        "sethostname", "setdomainname", "fanotify_init", "lsm_set_self_attr",
        "statmount", "listmount", "uselib", "ustat", "sysfs", "_sysctl",
        "get_kernel_syms", "query_module",
        /* hardware and ABI knobs */
        "iopl", "ioperm", "modify_ldt", "vm86", "vm86old", "mknod", "mknodat",
        /* memory placement and secret memory */
        "move_pages", "migrate_pages", "mbind", "memfd_secret",
        /* SysV and POSIX IPC */
        "shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semctl",
        "msgget", "msgsnd", "msgrcv", "msgctl", "mq_open", "mq_unlink", "mq_timedsend",
        "mq_timedreceive", "mq_notify", "mq_getsetattr",
};
/* clang-format on */

/* Decided by the argument rules below (SCMP_SYS: a syscall this arch lacks
 * is a pseudo number that libseccomp skips), or (clone3) left to the default
 * ENOSYS: libseccomp refuses a rule whose action equals the default, and
 * ENOSYS is what makes glibc fall back to clone, whose flags we can see. */
static const char *const special_names[] = {
        "clone", "clone3", "socket", "socketpair", "ioctl", "personality", "prctl",
};

/* The namespace flags of clone(2). CLONE_NEWTIME (0x80) overlaps the exit
 * signal byte of clone(); no valid signal sets that bit, so refusing it costs
 * nothing and covers a future kernel that accepts the flag there. */
#define CLONE_NS_FLAGS                                                                                \
        (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | \
         CLONE_NEWNET | CLONE_NEWTIME)

/* s390 (and CRIS) swap the first two arguments of clone. */
#if defined(__s390__) || defined(__s390x__) || defined(__CRIS__)
#define CLONE_FLAGS_ARG 1
#else
#define CLONE_FLAGS_ARG 0
#endif

static bool
name_in(const char *name, const char *const *table, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(name, table[i]) == 0)
                        return true;
        return false;
}

/* (arg & mask) == datum over the low 32 bits. SCMP_CMP32 in 2.5 only casts
 * mask and datum to uint32_t; the mask's zero high word is what makes the
 * generated BPF ignore the upper register half (hi32 & 0 == 0). A plain
 * SCMP_CMP_EQ would compare the high word against 0 as well. */
static int
filter_add_masked(scmp_filter_ctx ctx, uint32_t action, int nr, unsigned arg, uint32_t mask, uint32_t datum)
{
        return seccomp_rule_add(ctx, action, nr, 1, SCMP_CMP32(arg, SCMP_CMP_MASKED_EQ, mask, datum));
}

/* Cover [lo, end) of the 32-bit value space with aligned power-of-two blocks,
 * one masked-equal rule each, the way a range splits into CIDR prefixes. A
 * range never spans the whole space here (callers keep at least one value
 * out of it), so no block has mask 0, which libseccomp would fold into an
 * unconditional rule that replaces all the others for the syscall. */
static int
filter_add_range(scmp_filter_ctx ctx, uint32_t action, int nr, unsigned arg, uint64_t lo, uint64_t end)
{
        while (lo < end) {
                uint64_t size = lo == 0 ? UINT64_C(1) << 32 : lo & -lo;
                int r;

                while (lo + size > end)
                        size >>= 1;
                r = filter_add_masked(ctx, action, nr, arg, (uint32_t) ~(size - 1), (uint32_t) lo);
                if (r < 0)
                        return r;
                lo += size;
        }
        return 0;
}

/* Low 32 bits of argument `arg` in values[] (ascending, unique, non-empty)
 * get act_in, every other value act_out. The two rule sets are disjoint, so
 * the outcome does not depend on libseccomp's order of evaluation. */
static int
filter_add_low32_set(scmp_filter_ctx ctx, int nr, unsigned arg, const uint32_t *values, size_t n,
                     uint32_t act_in, uint32_t act_out)
{
        uint64_t next = 0;
        int r;

        if (n == 0)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                r = filter_add_range(ctx, act_out, nr, arg, next, values[i]);
                if (r < 0)
                        return r;
                r = filter_add_masked(ctx, act_in, nr, arg, UINT32_MAX, values[i]);
                if (r < 0)
                        return r;
                next = (uint64_t) values[i] + 1;
        }
        return filter_add_range(ctx, act_out, nr, arg, next, UINT64_C(1) << 32);
}

static int
filter_add_denied(scmp_filter_ctx ctx)
{
        for (size_t i = 0; i < ELEMENTSOF(deny_names); i++) {
                int nr = seccomp_syscall_resolve_name(deny_names[i]);
                int r;

                /* -1: unknown to the library; other negatives: libseccomp's
                 * pseudo numbers for syscalls this arch does not have. */
                if (nr < 0) {
                        log_debug("seccomp: %s not on this architecture, left to ENOSYS", deny_names[i]);
                        continue;
                }
                r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Allow by enumeration rather than by a list of our own, so that new
 * harmless syscalls work as soon as libseccomp knows them, and syscalls it
 * does not know stay at ENOSYS until someone has looked at them. */
static int
filter_add_allowed(scmp_filter_ctx ctx)
{
        for (int nr = 0; nr < SYSCALL_NR_MAX; nr++) {
                _cleanup_free_ char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
                int r;

                if (!name || name_in(name, deny_names, ELEMENTSOF(deny_names)) ||
                    name_in(name, special_names, ELEMENTSOF(special_names)))
                        continue;
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Threads and fork/vfork-style clones pass; any namespace flag is EPERM.
 * The EPERM side is one rule per flag bit, so it is disjoint from the allow
 * rule (no namespace bit set) without needing a "not equal" on a mask. */
static int
filter_add_clone(scmp_filter_ctx ctx)
{
        uint32_t ns = CLONE_NS_FLAGS;
        int r;

        r = filter_add_masked(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), CLONE_FLAGS_ARG, ns, 0);
        while (r >= 0 && ns != 0) {
                uint32_t bit = ns & -ns;

                r = filter_add_masked(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), CLONE_FLAGS_ARG, bit,
                                      bit);
                ns &= ~bit;
        }
        return r < 0 ? r : 0;
}

/* AF_VSOCK reaches the hypervisor and AF_NETLINK/AF_PACKET/AF_ALG the host
 * kernel, so the family is an allow-list; the kernel takes it as an int, hence
 * the low 32 bits. */
static int
filter_add_socket(scmp_filter_ctx ctx, const struct jail_seccomp_options *o)
{
        static const uint32_t unix_only[] = {AF_UNIX};
        static const uint32_t with_inet[] = {AF_UNIX, AF_INET, AF_INET6};
        const uint32_t *families = o->allow_inet ? with_inet : unix_only;
        size_t n = o->allow_inet ? ELEMENTSOF(with_inet) : ELEMENTSOF(unix_only);
        int r;

        r = filter_add_low32_set(ctx, SCMP_SYS(socket), 0, families, n, SCMP_ACT_ALLOW,
                                 SCMP_ACT_ERRNO(EAFNOSUPPORT));
        if (r < 0)
                return r;
        return filter_add_low32_set(ctx, SCMP_SYS(socketpair), 0, families, n, SCMP_ACT_ALLOW,
                                    SCMP_ACT_ERRNO(EAFNOSUPPORT));
}

/* TIOCSTI pushes input into a terminal and TIOCLINUX can do the same through
 * the selection buffer; the request is an unsigned int in the kernel, so
 * 0x100005412 is TIOCSTI too. Every other request is allowed. */
static int
filter_add_ioctl(scmp_filter_ctx ctx)
{
        static const uint32_t denied[] = {TIOCSTI, TIOCLINUX};

        return filter_add_low32_set(ctx, SCMP_SYS(ioctl), 1, denied, ELEMENTSOF(denied),
                                    SCMP_ACT_ERRNO(EPERM), SCMP_ACT_ALLOW);
}

/* Only the plain Linux personalities and the query; no READ_IMPLIES_EXEC,
 * ADDR_NO_RANDOMIZE, MMAP_PAGE_ZERO or foreign execution domains. */
/* The worker is dumpable and without transparent huge pages so that the
 * memory watchdog can read it and bound its overshoot (jail/lockdown.c):
 * the code may not change either. The option is an int. */
static int
filter_add_prctl(scmp_filter_ctx ctx)
{
        static const uint32_t denied[] = {PR_SET_DUMPABLE, PR_SET_THP_DISABLE};

        return filter_add_low32_set(ctx, SCMP_SYS(prctl), 0, denied, ELEMENTSOF(denied),
                                    SCMP_ACT_ERRNO(EPERM), SCMP_ACT_ALLOW);
}

static int
filter_add_personality(scmp_filter_ctx ctx)
{
        static const uint32_t allowed[] = {
                PER_LINUX, PER_LINUX32, UNAME26, UNAME26 | PER_LINUX32, UINT32_MAX,
        };

        return filter_add_low32_set(ctx, SCMP_SYS(personality), 0, allowed, ELEMENTSOF(allowed),
                                    SCMP_ACT_ALLOW, SCMP_ACT_ERRNO(EPERM));
}

static int
filter_set_attrs(scmp_filter_ctx ctx)
{
        int r;

        r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
        if (r >= 0)
                r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1);
        if (r >= 0)
                r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
        /* The kernel's errno from seccomp_load(), not libseccomp's -ECANCELED. */
        if (r >= 0)
                r = seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1);
        /* A binary tree over syscall numbers instead of a linear list: every
         * syscall runs a few comparisons instead of hundreds, and loading gets
         * cheaper too, because the kernel precomputes its per-syscall action
         * cache by running the program once for every syscall number. */
        if (r >= 0)
                r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
        /* SCMP_FLTATR_CTL_SSB stays 0: without SECCOMP_FILTER_FLAG_SPEC_ALLOW
         * the kernel applies its default speculative-store-bypass policy for
         * seccomp'd tasks (SSBD forced on under spec_store_bypass_disable=
         * seccomp), and for code we do not trust we prefer the mitigation to
         * its small cost. Kernels since 5.16 default to the prctl mode, where
         * loading a filter alone no longer turns SSBD on; opting in is then
         * PR_SET_SPECULATION_CTRL's job, not the filter's. */
        return r;
}

/* The service's own filter (the dispatcher and the faces that embed it, after
 * start-up): everything it never does again once the keeper exists. It
 * parses what clients and workers send; should that ever be exploited, the
 * code gets no exec, no namespace, no mount, no tracing and no kernel
 * extension points. Default allow: the service's own needs stay open. */
static const char *const service_deny_names[] = {
        "execve",
        "execveat",
        "unshare",
        "setns",
        "mount",
        "umount2",
        "pivot_root",
        "chroot",
        "open_tree",
        "move_mount",
        "fsopen",
        "fsconfig",
        "fsmount",
        "fspick",
        "mount_setattr",
        "process_vm_readv",
        "process_vm_writev",
        "kcmp",
        "pidfd_getfd",
        "bpf",
        "perf_event_open",
        "userfaultfd",
        "io_uring_setup",
        "io_uring_enter",
        "io_uring_register",
        "keyctl",
        "add_key",
        "request_key",
        "init_module",
        "finit_module",
        "delete_module",
        "kexec_load",
        "kexec_file_load",
        "reboot",
        "swapon",
        "swapoff",
        "acct",
        "syslog",
        "quotactl",
        "settimeofday",
        "clock_settime",
        "clock_adjtime",
        "adjtimex",
        "name_to_handle_at",
        "open_by_handle_at",
#ifndef HAVE_SANITIZERS
        /* LeakSanitizer stops the world with ptrace at exit. */
        "ptrace",
#endif
};

static int
filter_add_service(scmp_filter_ctx ctx)
{
        uint32_t ns = CLONE_NS_FLAGS;
        int r = 0;

        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(service_deny_names); i++) {
                int nr = seccomp_syscall_resolve_name(service_deny_names[i]);
                if (nr != __NR_SCMP_ERROR)
                        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
        }
        while (r >= 0 && ns != 0) {
                uint32_t bit = ns & -ns;
                r = filter_add_masked(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), CLONE_FLAGS_ARG, bit,
                                      bit);
                ns &= ~bit;
        }
        if (r >= 0)
                r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
        return r < 0 ? r : 0;
}

static int
filter_new(const struct jail_seccomp_options *o, scmp_filter_ctx *ret)
{
        static const struct jail_seccomp_options defaults = {.allow_inet = false};
        _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = NULL;
        int r;

        if (!o)
                o = &defaults;
        if (o->service) {
                ctx = seccomp_init(SCMP_ACT_ALLOW);
                if (!ctx)
                        return -ENOMEM;
                r = filter_set_attrs(ctx);
                if (r >= 0)
                        r = filter_add_service(ctx);
                if (r < 0)
                        return log_debug_errno(r, "seccomp: building the service filter failed: %m");
                *ret = TAKE_PTR(ctx);
                return 0;
        }
        ctx = seccomp_init(SCMP_ACT_ERRNO(ENOSYS));
        if (!ctx)
                return -ENOMEM;
        r = filter_set_attrs(ctx);
        if (r >= 0)
                r = filter_add_denied(ctx);
        if (r >= 0)
                r = filter_add_allowed(ctx);
        if (r >= 0)
                r = filter_add_clone(ctx);
        if (r >= 0)
                r = filter_add_socket(ctx, o);
        if (r >= 0)
                r = filter_add_ioctl(ctx);
        if (r >= 0)
                r = filter_add_personality(ctx);
        if (r >= 0)
                r = filter_add_prctl(ctx);
        if (r < 0)
                return log_debug_errno(r, "seccomp: building the filter failed: %m");
        *ret = TAKE_PTR(ctx);
        return 0;
}

int
jail_seccomp_load(const struct jail_seccomp_options *o)
{
        _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = NULL;
        int r;

        r = filter_new(o, &ctx);
        if (r < 0)
                return r;
        r = seccomp_load(ctx);
        if (r < 0)
                return log_debug_errno(r, "seccomp: loading the filter failed: %m");
        return 0;
}

int
jail_seccomp_export(const struct jail_seccomp_options *o, struct sock_fprog *ret)
{
        _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = NULL;
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t size;
        int r;

        r = filter_new(o, &ctx);
        if (r < 0)
                return r;
        /* libseccomp 2.5 exports only to an fd (seccomp_export_bpf_mem is
         * 2.6); a memfd never blocks the writer the way a full pipe would. */
        fd = memfd_create("jail-seccomp-bpf", MFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = seccomp_export_bpf(ctx, fd);
        if (r < 0)
                return r;
        if (lseek(fd, 0, SEEK_SET) < 0)
                return -errno;
        r = read_fd_bounded(fd, BPF_MAXINSNS * sizeof(struct sock_filter), &buf, &size);
        if (r < 0)
                return r;
        if (size == 0 || size % sizeof(struct sock_filter) != 0)
                return -EBADMSG;
        ret->len = (unsigned short) (size / sizeof(struct sock_filter));
        ret->filter = (struct sock_filter *) TAKE_PTR(buf);
        return 0;
}

int
jail_seccomp_load_prog(const struct sock_fprog *prog)
{
        /* TSYNC: every thread gets the filter, or the call fails. no_new_privs
         * must already be set (the lockdown sets it). */
        long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, prog);

        if (r < 0)
                return -errno;
        return r > 0 ? -EBUSY : 0; /* a positive value names a thread that could not sync */
}

/* The build-time program is only as good as the inputs it was compiled from:
 * a libseccomp of another version may emit other code for the same rules,
 * and the API level decides which actions and flags it may use. Anything but
 * an exact match compiles afresh, so the prebuilt program can only ever be
 * the one the running library would produce. */
int
jail_seccomp_prebuilt_use(const struct jail_seccomp_prebuilt *p, struct sock_fprog *ret)
{
        const struct scmp_version *v = seccomp_version();

        if (!p || p->len == 0 || !v || v->major != p->major || v->minor != p->minor ||
            v->micro != p->micro || seccomp_api_get() != p->api)
                return 1;
        *ret = (struct sock_fprog){.len = p->len, .filter = (struct sock_filter *) p->filter};
        return 0;
}

int
jail_seccomp_prebuilt_print(const char *name, FILE *out)
{
        const struct scmp_version *v = seccomp_version();
        struct sock_fprog prog;
        int r = jail_seccomp_export(NULL, &prog);

        if (r < 0)
                return r;
        fprintf(out, "/* Generated by jail/seccomp-gen at build time: do not edit. */\n"
                     "#include \"seccomp-filter.h\"\n\n"
                     "static const struct sock_filter insns[] = {\n");
        for (unsigned i = 0; i < prog.len; i++) {
                const struct sock_filter *f = &prog.filter[i];
                fprintf(out, "        {0x%04x, %u, %u, 0x%08x},\n", f->code, f->jt, f->jf, f->k);
        }
        fprintf(out,
                "};\n\nconst struct jail_seccomp_prebuilt %s = {\n"
                "        .major = %u, .minor = %u, .micro = %u, .api = %u,\n"
                "        .len = %u, .filter = insns,\n};\n",
                name, v->major, v->minor, v->micro, seccomp_api_get(), prog.len);
        free(prog.filter);
        return fflush(out) == 0 && !ferror(out) ? 0 : -EIO;
}

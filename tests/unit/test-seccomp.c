/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of jail/seccomp.c (THREATS.md §A). The exported classic-BPF
 * program is run through a small interpreter over synthetic seccomp_data, so
 * every decision (including foreign architectures and high bits in 32-bit
 * arguments, which a real process cannot easily produce) is checked without
 * loading anything. One test then loads the real filter in a forked child and
 * checks the kernel agrees. Test-only code: trusted, runs as the developer.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"
#include "seccomp-filter.h"
#include <seccomp.h>

#define RET_ALLOW SECCOMP_RET_ALLOW
#define RET_KILL SECCOMP_RET_KILL_PROCESS
#define RET_ERRNO(e) (SECCOMP_RET_ERRNO | (uint32_t) (e))

/* Each Criterion test runs in its own process, so one program per test. */
static struct sock_fprog prog;

static void
export_with(bool allow_inet)
{
        const struct jail_seccomp_options o = {.allow_inet = allow_inet};
        int r = jail_seccomp_export(&o, &prog);

        cr_assert_eq(r, 0, "jail_seccomp_export: %s", strerror(-r));
        cr_assert_gt(prog.len, 0);
}

static void
setup_default(void)
{
        export_with(false);
}

static void
setup_inet(void)
{
        export_with(true);
}

static void
teardown(void)
{
        free(prog.filter);
        prog = (struct sock_fprog){};
}

/* The scratch memory M[]: loads into A or X, stores from A or X. */
static bool
bpf_scratch(const struct sock_filter *f, uint32_t *a, uint32_t *x, uint32_t mem[BPF_MEMWORDS])
{
        if (f->k >= BPF_MEMWORDS)
                return false;
        if (f->code == (BPF_LD | BPF_MEM))
                *a = mem[f->k];
        else if (f->code == (BPF_LDX | BPF_MEM))
                *x = mem[f->k];
        else
                mem[f->k] = f->code == BPF_ST ? *a : *x;
        return true;
}

/* Classic BPF as the kernel runs it for seccomp, restricted to the opcodes
 * seccomp accepts. Returns false on an opcode we do not know, an
 * out-of-range load or jump, or running off the end; *ret_pc says where. */
static bool
bpf_run(const struct sock_fprog *p, const struct seccomp_data *d, uint32_t *ret, size_t *ret_pc)
{
        uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = {0};

        for (size_t pc = 0; pc < p->len; pc++) {
                const struct sock_filter *f = &p->filter[pc];

                *ret_pc = pc;
                switch (f->code) {
                case BPF_LD | BPF_W | BPF_ABS:
                        if (f->k % 4 != 0 || f->k > sizeof(*d) - 4)
                                return false;
                        memcpy(&a, (const char *) d + f->k, sizeof(a));
                        break;
                case BPF_LD | BPF_IMM:
                        a = f->k;
                        break;
                case BPF_LDX | BPF_IMM:
                        x = f->k;
                        break;
                case BPF_LD | BPF_MEM:
                case BPF_LDX | BPF_MEM:
                case BPF_ST:
                case BPF_STX:
                        if (!bpf_scratch(f, &a, &x, mem))
                                return false;
                        break;
                case BPF_MISC | BPF_TAX:
                        x = a;
                        break;
                case BPF_MISC | BPF_TXA:
                        a = x;
                        break;
                case BPF_ALU | BPF_AND | BPF_K:
                        a &= f->k;
                        break;
                case BPF_JMP | BPF_JA:
                        pc += f->k;
                        break;
                case BPF_JMP | BPF_JEQ | BPF_K:
                        pc += a == f->k ? f->jt : f->jf;
                        break;
                case BPF_JMP | BPF_JGT | BPF_K:
                        pc += a > f->k ? f->jt : f->jf;
                        break;
                case BPF_JMP | BPF_JGE | BPF_K:
                        pc += a >= f->k ? f->jt : f->jf;
                        break;
                case BPF_JMP | BPF_JSET | BPF_K:
                        pc += (a & f->k) ? f->jt : f->jf;
                        break;
                case BPF_RET | BPF_K:
                        *ret = f->k;
                        return true;
                default:
                        return false;
                }
        }
        return false;
}

static uint32_t
decide_arch(uint32_t arch, int nr, const uint64_t args[6])
{
        struct seccomp_data d = {.nr = nr, .arch = arch};
        uint32_t ret = 0;
        size_t pc = 0;

        memcpy(d.args, args, sizeof(d.args));
        cr_assert(bpf_run(&prog, &d, &ret, &pc), "BPF fault at pc %zu (code 0x%04x) for nr %d", pc,
                  prog.filter[pc].code, nr);
        return ret;
}

TestSuite(seccomp_bpf, .init = setup_default, .fini = teardown);
TestSuite(seccomp_inet, .init = setup_inet, .fini = teardown);

/* The interpreter itself: jumps it must take, and an opcode it must refuse. */
Test(seccomp_bpf, interpreter_sanity)
{
        struct sock_filter code[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x4, 0, 2),
                BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, 5, 0, 2),
                BPF_STMT(BPF_JMP | BPF_JA, 2),
                BPF_STMT(BPF_RET | BPF_K, 1),
                BPF_STMT(BPF_RET | BPF_K, 2),
                BPF_STMT(BPF_RET | BPF_K, 3),
        };
        struct sock_filter bad[] = {BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, 2)};
        const struct sock_fprog p = {ELEMENTSOF(code), code}, pbad = {1, bad};
        struct seccomp_data d = {.nr = 6};
        uint32_t ret = 0;
        size_t pc = 0;

        cr_assert(bpf_run(&p, &d, &ret, &pc) && ret == 3, "nr 6: %u", ret);
        d.nr = 4;
        cr_assert(bpf_run(&p, &d, &ret, &pc) && ret == 2, "nr 4: %u", ret);
        d.nr = 1;
        cr_assert(bpf_run(&p, &d, &ret, &pc) && ret == 1, "nr 1: %u", ret);
        cr_assert(!bpf_run(&pbad, &d, &ret, &pc) && pc == 0);
}

#define NATIVE_ARCH seccomp_arch_native()
#define DECIDE(nr, ...) decide_arch(NATIVE_ARCH, (nr), (const uint64_t[6]){__VA_ARGS__})

static void
expect_ret(uint32_t got, uint32_t want, const char *what)
{
        cr_expect_eq(got, want, "%s: action 0x%08x data %u, want action 0x%08x data %u", what,
                     got & SECCOMP_RET_ACTION_FULL, got & SECCOMP_RET_DATA, want & SECCOMP_RET_ACTION_FULL,
                     want & SECCOMP_RET_DATA);
}

#define EXPECT(want, nr, ...) expect_ret(DECIDE(nr, __VA_ARGS__), (want), #nr " " #__VA_ARGS__)

Test(seccomp_bpf, everyday_syscalls_allowed)
{
        EXPECT(RET_ALLOW, __NR_read, 0);
        EXPECT(RET_ALLOW, __NR_write, 1);
        EXPECT(RET_ALLOW, __NR_openat, (uint64_t) AT_FDCWD, 0, O_RDONLY);
        EXPECT(RET_ALLOW, __NR_execve, 0);
        EXPECT(RET_ALLOW, __NR_futex, 0);
        EXPECT(RET_ALLOW, __NR_mmap, 0);
        EXPECT(RET_ALLOW, __NR_exit_group, 0);
}

Test(seccomp_bpf, clone_namespace_flags_denied)
{
        static const uint64_t ns[] = {
                CLONE_NEWNS,   CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
                CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET, CLONE_NEWTIME,
        };
        const uint64_t thread = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
                                CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;

        EXPECT(RET_ERRNO(EPERM), __NR_clone, CLONE_NEWUSER);
        EXPECT(RET_ALLOW, __NR_clone, thread);
        EXPECT(RET_ALLOW, __NR_clone, CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD);
        EXPECT(RET_ALLOW, __NR_clone, CLONE_VM | CLONE_VFORK | SIGCHLD);
        for (size_t i = 0; i < ELEMENTSOF(ns); i++) {
                expect_ret(DECIDE(__NR_clone, ns[i]), RET_ERRNO(EPERM), "clone ns flag");
                expect_ret(DECIDE(__NR_clone, ns[i] | thread), RET_ERRNO(EPERM),
                           "clone ns flag with thread flags");
        }
        /* The kernel drops the upper half of clone()'s flags. */
        EXPECT(RET_ALLOW, __NR_clone, UINT64_C(0xffffffff00000000) | SIGCHLD);
}

Test(seccomp_bpf, clone3_enosys)
{
        EXPECT(RET_ERRNO(ENOSYS), __NR_clone3, 0, 88);
}

Test(seccomp_bpf, denied_classes_eperm)
{
        /* clang-format off */
        static const int nrs[] = {
                __NR_unshare, __NR_setns, __NR_mount, __NR_umount2, __NR_pivot_root,
                __NR_open_tree, __NR_fsopen, __NR_ptrace, __NR_bpf, __NR_io_uring_setup,
                __NR_keyctl, __NR_add_key, __NR_userfaultfd, __NR_perf_event_open,
                __NR_process_vm_readv, __NR_kcmp, __NR_pidfd_getfd, __NR_open_by_handle_at,
                __NR_kexec_load, __NR_init_module, __NR_reboot, __NR_swapon, __NR_syslog,
                __NR_acct, __NR_clock_settime, __NR_mknodat, __NR_shmget, __NR_mq_open,
        };
        /* clang-format on */

        for (size_t i = 0; i < ELEMENTSOF(nrs); i++) {
                char what[32];

                snprintf(what, sizeof(what), "nr %d", nrs[i]);
                expect_ret(DECIDE(nrs[i], 0), RET_ERRNO(EPERM), what);
                expect_ret(DECIDE(nrs[i], CLONE_NEWUSER, 1, 2, 3), RET_ERRNO(EPERM), what);
        }
}

Test(seccomp_bpf, socket_families)
{
        EXPECT(RET_ALLOW, __NR_socket, AF_UNIX, SOCK_STREAM);
        EXPECT(RET_ERRNO(EAFNOSUPPORT), __NR_socket, AF_INET, SOCK_STREAM);
        EXPECT(RET_ERRNO(EAFNOSUPPORT), __NR_socket, AF_INET6, SOCK_DGRAM);
        EXPECT(RET_ERRNO(EAFNOSUPPORT), __NR_socket, AF_VSOCK, SOCK_STREAM);
        EXPECT(RET_ERRNO(EAFNOSUPPORT), __NR_socket, UINT64_C(0x100000028), SOCK_STREAM);
        EXPECT(RET_ALLOW, __NR_socket, UINT64_C(0x100000001), SOCK_STREAM);
        EXPECT(RET_ERRNO(EAFNOSUPPORT), __NR_socket, AF_NETLINK, SOCK_RAW);
        EXPECT(RET_ERRNO(EAFNOSUPPORT), __NR_socket, AF_PACKET, SOCK_RAW);
        EXPECT(RET_ERRNO(EAFNOSUPPORT), __NR_socket, AF_ALG, SOCK_SEQPACKET);
        EXPECT(RET_ALLOW, __NR_socketpair, AF_UNIX, SOCK_STREAM);
        EXPECT(RET_ERRNO(EAFNOSUPPORT), __NR_socketpair, AF_VSOCK, SOCK_STREAM);
        EXPECT(RET_ERRNO(EAFNOSUPPORT), __NR_socketpair, UINT64_C(0x100000028), SOCK_STREAM);
}

Test(seccomp_inet, socket_families_with_network)
{
        EXPECT(RET_ALLOW, __NR_socket, AF_UNIX, SOCK_STREAM);
        EXPECT(RET_ALLOW, __NR_socket, AF_INET, SOCK_STREAM);
        EXPECT(RET_ALLOW, __NR_socket, AF_INET6, SOCK_DGRAM);
        EXPECT(RET_ALLOW, __NR_socket, UINT64_C(0xffffffff0000000a), SOCK_DGRAM);
        EXPECT(RET_ERRNO(EAFNOSUPPORT), __NR_socket, AF_VSOCK, SOCK_STREAM);
        EXPECT(RET_ERRNO(EAFNOSUPPORT), __NR_socket, UINT64_C(0x100000028), SOCK_STREAM);
        EXPECT(RET_ERRNO(EAFNOSUPPORT), __NR_socket, AF_NETLINK, SOCK_RAW);
        EXPECT(RET_ERRNO(EAFNOSUPPORT), __NR_socket, AF_PACKET, SOCK_RAW);
}

Test(seccomp_bpf, ioctl_terminal_injection)
{
        EXPECT(RET_ERRNO(EPERM), __NR_ioctl, 0, TIOCSTI);
        EXPECT(RET_ERRNO(EPERM), __NR_ioctl, 0, UINT64_C(0x100005412));
        EXPECT(RET_ERRNO(EPERM), __NR_ioctl, 0, TIOCLINUX);
        EXPECT(RET_ERRNO(EPERM), __NR_ioctl, 0, UINT64_C(0xffffffff0000541c));
        EXPECT(RET_ALLOW, __NR_ioctl, 0, FIONREAD);
        EXPECT(RET_ALLOW, __NR_ioctl, 0, TCGETS);
        EXPECT(RET_ALLOW, __NR_ioctl, 0, TIOCSTI + 1);
        EXPECT(RET_ALLOW, __NR_ioctl, 0, 0);
        EXPECT(RET_ALLOW, __NR_ioctl, 0, UINT32_MAX);
}

Test(seccomp_bpf, personality_values)
{
        EXPECT(RET_ALLOW, __NR_personality, UINT32_MAX);
        EXPECT(RET_ALLOW, __NR_personality, PER_LINUX);
        EXPECT(RET_ALLOW, __NR_personality, PER_LINUX32);
        EXPECT(RET_ALLOW, __NR_personality, UNAME26);
        EXPECT(RET_ALLOW, __NR_personality, UNAME26 | PER_LINUX32);
        EXPECT(RET_ALLOW, __NR_personality, UINT64_C(0x100000000));
        EXPECT(RET_ERRNO(EPERM), __NR_personality, ADDR_NO_RANDOMIZE);
        EXPECT(RET_ERRNO(EPERM), __NR_personality, READ_IMPLIES_EXEC);
        EXPECT(RET_ERRNO(EPERM), __NR_personality, UINT32_MAX - 1);
        EXPECT(RET_ERRNO(EPERM), __NR_personality, PER_BSD);
}

/* xorshift64: reproducible values for the sweeps below. */
static uint64_t
next_random(uint64_t *s)
{
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        return *s;
}

static bool
low32_in(uint64_t v, const uint32_t *set, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if ((uint32_t) v == set[i])
                        return true;
        return false;
}

/* Values near each member and each power of two, with and without junk in
 * the high word, then random ones: the complement is built from aligned
 * blocks, so block edges are where an off-by-one would show. */
static void
sweep_low32(int nr, unsigned arg, const uint32_t *set, size_t n, uint32_t in, uint32_t out)
{
        static const uint64_t highs[] = {0, UINT64_C(0x100000000), UINT64_C(0xffffffff00000000)};
        uint64_t seed = 0x9e3779b97f4a7c15;

        for (size_t h = 0; h < ELEMENTSOF(highs); h++)
                for (int bit = 0; bit <= 32; bit++)
                        for (uint32_t delta = (uint32_t) -2; delta != 3; delta++) {
                                uint32_t base = bit < 32 ? UINT32_C(1) << bit : 0;
                                uint64_t args[6] = {0};

                                args[arg] = highs[h] | (uint32_t) (base + delta);
                                cr_expect_eq(decide_arch(NATIVE_ARCH, nr, args),
                                             low32_in(args[arg], set, n) ? in : out, "nr %d arg 0x%llx", nr,
                                             (unsigned long long) args[arg]);
                        }
        for (size_t i = 0; i < n * 5; i++) {
                uint64_t args[6] = {0};

                args[arg] = highs[i % 3] | (uint32_t) (set[i / 5] + (uint32_t) (i % 5) - 2);
                cr_expect_eq(decide_arch(NATIVE_ARCH, nr, args), low32_in(args[arg], set, n) ? in : out,
                             "nr %d arg 0x%llx", nr, (unsigned long long) args[arg]);
        }
        for (int i = 0; i < 2000; i++) {
                uint64_t args[6] = {0};

                args[arg] = next_random(&seed);
                cr_expect_eq(decide_arch(NATIVE_ARCH, nr, args), low32_in(args[arg], set, n) ? in : out,
                             "nr %d arg 0x%llx", nr, (unsigned long long) args[arg]);
        }
}

Test(seccomp_bpf, low32_sweeps)
{
        static const uint32_t families[] = {AF_UNIX};
        static const uint32_t requests[] = {TIOCSTI, TIOCLINUX};
        static const uint32_t personas[] = {0, 8, 0x20000, 0x20008, UINT32_MAX};

        sweep_low32(__NR_socket, 0, families, ELEMENTSOF(families), RET_ALLOW, RET_ERRNO(EAFNOSUPPORT));
        sweep_low32(__NR_socketpair, 0, families, ELEMENTSOF(families), RET_ALLOW, RET_ERRNO(EAFNOSUPPORT));
        sweep_low32(__NR_ioctl, 1, requests, ELEMENTSOF(requests), RET_ERRNO(EPERM), RET_ALLOW);
        sweep_low32(__NR_personality, 0, personas, ELEMENTSOF(personas), RET_ALLOW, RET_ERRNO(EPERM));
}

Test(seccomp_inet, low32_sweeps)
{
        static const uint32_t families[] = {AF_UNIX, AF_INET, AF_INET6};

        sweep_low32(__NR_socket, 0, families, ELEMENTSOF(families), RET_ALLOW, RET_ERRNO(EAFNOSUPPORT));
}

Test(seccomp_bpf, foreign_abis_killed)
{
#if defined(__x86_64__)
        const uint64_t none[6] = {0};

        expect_ret(decide_arch(AUDIT_ARCH_I386, 3, none), RET_KILL, "i386 read");
        expect_ret(decide_arch(AUDIT_ARCH_I386, 0, none), RET_KILL, "i386 restart_syscall");
        expect_ret(DECIDE(0x40000000 | __NR_read, 0), RET_KILL, "x32 read");
        expect_ret(DECIDE(0x40000000 | 512, 0), RET_KILL, "x32 rt_sigaction");
        expect_ret(DECIDE(0x7fffffff, 0), RET_KILL, "top of the x32 range");
        expect_ret(decide_arch(0, __NR_read, none), RET_KILL, "arch 0");
#else
        cr_skip_test("i386 and x32 exist beside x86_64 only");
#endif
}

Test(seccomp_bpf, unknown_numbers_enosys)
{
        EXPECT(RET_ERRNO(ENOSYS), 1000, 0);
        EXPECT(RET_ERRNO(ENOSYS), 1023, 0);
        /* -1 is what a tracer writes to skip a syscall; it is not an x32 number. */
        EXPECT(RET_ERRNO(ENOSYS), -1, 0);
}

/* Every number the library cannot name is ENOSYS, and every one it can is
 * decided by a rule (only clone3 is meant to share the default). */
Test(seccomp_bpf, every_number_decided)
{
        for (int nr = 0; nr < 1024; nr++) {
                _cleanup_free_ char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
                uint32_t got = DECIDE(nr, 0);

                if (!name)
                        cr_expect_eq(got, RET_ERRNO(ENOSYS), "nr %d: 0x%08x", nr, got);
                else if (strcmp(name, "clone3") != 0)
                        cr_expect(got == RET_ALLOW || got == RET_ERRNO(EPERM) ||
                                          got == RET_ERRNO(EAFNOSUPPORT),
                                  "%s (%d): 0x%08x", name, nr, got);
        }
}

/* --- the real filter, loaded in a child ----------------------------------- */

struct parked_thread {
        int tid_pipe[2];
        int release_pipe[2];
};

static void *
parked_main(void *userdata)
{
        struct parked_thread *t = userdata;
        pid_t tid = gettid();
        char c;

        (void) loop_write(t->tid_pipe[1], &tid, sizeof(tid));
        (void) loop_read_exact(t->release_pipe[0], &c, 1);
        return NULL;
}

static bool
status_has(const char *path, const char *line)
{
        _cleanup_free_ char *s = NULL;

        return read_file_bounded(path, 1 << 16, &s, NULL) >= 0 && strstr(s, line);
}

static void *
noop_main(void *userdata)
{
        return userdata;
}

/* Threads (clone3 refused, glibc falls back to clone) and fork still work. */
static int
child_check_processes(void)
{
        pthread_t th;
        int status;
        pid_t pid;

        if (pthread_create(&th, NULL, noop_main, NULL) != 0 || pthread_join(th, NULL) != 0)
                return 30;
        pid = fork();
        if (pid < 0)
                return 31;
        if (pid == 0)
                _exit(0);
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return 32;
        return 0;
}

static int
child_check_syscalls(void)
{
        _cleanup_close_ int fd = -EBADF;
        char c = 'x';

        if (unshare(CLONE_NEWUSER) != -1 || errno != EPERM)
                return 20;
        if (syscall(__NR_clone3, NULL, 0) != -1 || errno != ENOSYS)
                return 21;
        if (socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0) != -1 || errno != EAFNOSUPPORT)
                return 22;
        if (syscall(__NR_socket, 0x100000028UL, SOCK_STREAM | SOCK_CLOEXEC, 0) != -1 ||
            errno != EAFNOSUPPORT)
                return 23;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return 24;
        if (ioctl(fd, TIOCSTI, &c) != -1 || errno != EPERM)
                return 25;
        if (personality(ADDR_NO_RANDOMIZE) != -1 || errno != EPERM)
                return 26;
        return 0;
}

static int
child_main(void)
{
        const struct jail_seccomp_options o = {.allow_inet = false};
        struct parked_thread t = {{-1, -1}, {-1, -1}};
        char path[64];
        pthread_t th;
        pid_t tid;
        int r;

        if (prctl(PR_GET_SECCOMP) < 0 && errno == EINVAL)
                return 77;
        /* A thread that exists before the load must be covered too (TSYNC). */
        if (pipe2(t.tid_pipe, O_CLOEXEC) < 0 || pipe2(t.release_pipe, O_CLOEXEC) < 0 ||
            pthread_create(&th, NULL, parked_main, &t) != 0 ||
            loop_read_exact(t.tid_pipe[0], &tid, sizeof(tid)) < 0)
                return 10;
        if (jail_seccomp_load(&o) < 0)
                return 11;
        if (!status_has("/proc/self/status", "\nSeccomp:\t2\n") ||
            !status_has("/proc/self/status", "\nNoNewPrivs:\t1\n"))
                return 12;
        snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int) tid);
        if (!status_has(path, "\nSeccomp:\t2\n") || !status_has(path, "\nNoNewPrivs:\t1\n"))
                return 13;
        if (loop_write(t.release_pipe[1], "x", 1) < 0 || pthread_join(th, NULL) != 0)
                return 14;
        r = child_check_syscalls();
        return r != 0 ? r : child_check_processes();
}

Test(seccomp_load, child_sees_filter)
{
        int status;
        pid_t pid;

        pid = fork();
        cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
        if (pid == 0)
                _exit(child_main());
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFEXITED(status), "child died with signal %d",
                  WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        if (WEXITSTATUS(status) == 77)
                cr_skip_test("kernel without seccomp filter support");
        cr_assert_eq(WEXITSTATUS(status), 0, "child check %d failed (see child_main)", WEXITSTATUS(status));
}

/* ------------------------------------------------------------ the service */

static void
setup_service(void)
{
        const struct jail_seccomp_options o = {.service = true};
        int r = jail_seccomp_export(&o, &prog);

        cr_assert_eq(r, 0, "jail_seccomp_export: %s", strerror(-r));
        cr_assert_gt(prog.len, 0);
}

TestSuite(seccomp_service, .init = setup_service, .fini = teardown);

Test(seccomp_service, what_the_dispatcher_does_is_allowed)
{
        EXPECT(RET_ALLOW, __NR_read, 0);
        EXPECT(RET_ALLOW, __NR_write, 1);
        EXPECT(RET_ALLOW, __NR_openat, (uint64_t) AT_FDCWD, 0, O_RDONLY);
        EXPECT(RET_ALLOW, __NR_mkdir, 0);
        EXPECT(RET_ALLOW, __NR_rmdir, 0);
        EXPECT(RET_ALLOW, __NR_kill, 1, SIGKILL);
        EXPECT(RET_ALLOW, __NR_pidfd_open, 1, 0);
        EXPECT(RET_ALLOW, __NR_pidfd_send_signal, 3, SIGKILL);
        EXPECT(RET_ALLOW, __NR_epoll_wait, 0);
        EXPECT(RET_ALLOW, __NR_socket, AF_UNIX, SOCK_STREAM);
        EXPECT(RET_ALLOW, __NR_sendmsg, 0);
        EXPECT(RET_ALLOW, __NR_clone, CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD);
}

Test(seccomp_service, exec_namespaces_and_mounts_denied)
{
        static const uint64_t ns[] = {
                CLONE_NEWNS,   CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
                CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET, CLONE_NEWTIME,
        };

        EXPECT(RET_ERRNO(EPERM), __NR_execve, 0);
        EXPECT(RET_ERRNO(EPERM), __NR_execveat, 0);
        EXPECT(RET_ERRNO(EPERM), __NR_unshare, CLONE_NEWUSER);
        EXPECT(RET_ERRNO(EPERM), __NR_setns, 3, 0);
        EXPECT(RET_ERRNO(EPERM), __NR_mount, 0);
        EXPECT(RET_ERRNO(EPERM), __NR_pivot_root, 0);
        EXPECT(RET_ERRNO(EPERM), __NR_open_tree, 0);
        EXPECT(RET_ERRNO(EPERM), __NR_fsopen, 0);
        EXPECT(RET_ERRNO(EPERM), __NR_bpf, 0);
        EXPECT(RET_ERRNO(EPERM), __NR_process_vm_readv, 0);
        EXPECT(RET_ERRNO(EPERM), __NR_io_uring_setup, 0);
        EXPECT(RET_ERRNO(EPERM), __NR_init_module, 0);
        EXPECT(RET_ERRNO(EPERM), __NR_kexec_load, 0);
        EXPECT(RET_ERRNO(ENOSYS), __NR_clone3, 0, 88);
        for (size_t i = 0; i < ELEMENTSOF(ns); i++)
                expect_ret(DECIDE(__NR_clone, ns[i] | SIGCHLD), RET_ERRNO(EPERM), "clone ns flag");
}

Test(seccomp_service, foreign_abis_killed)
{
#if defined(__x86_64__)
        const uint64_t none[6] = {0};

        expect_ret(decide_arch(AUDIT_ARCH_I386, 11, none), RET_KILL, "i386 execve");
        expect_ret(DECIDE(0x40000000 | 520, 0), RET_KILL, "x32 execve");
#else
        cr_skip_test("i386 and x32 exist beside x86_64 only");
#endif
}

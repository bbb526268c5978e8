/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the spawner's gate: spawner_request_parse() accepts exactly
 * the five request types with their keys (a CPU quota in its range), and a
 * descriptor with "cgroup" only (closing it otherwise); "limit" only lowers
 * the spawner's own limits (spawner_cgroup_limit()); spawner_pidfd_pid()
 * and spawner_pid_descends() tell a worker of a zygote from any other
 * process; spawner_cgroup_add() refuses before it creates anything; group
 * names carry their owner, and only a dead owner's groups count as stale.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "jail.h"
#include "msg.h"
#include "spawner.h"

struct packet {
        msgpack_sbuffer sb;
        msgpack_packer pk;
};

static void
begin(struct packet *p, uint32_t keys, const char *type)
{
        msgpack_sbuffer_init(&p->sb);
        msgpack_packer_init(&p->pk, &p->sb, msgpack_sbuffer_write);
        msgpack_pack_map(&p->pk, keys);
        proto_pack_key_str(&p->pk, "type", type);
}

/* Parse the packet (consuming fd); the result, and the request on success. */
static int
parse(struct packet *p, int fd, struct spawner_request *ret)
{
        int r = spawner_request_parse(p->sb.data, p->sb.size, fd, ret);

        msgpack_sbuffer_destroy(&p->sb);
        return r;
}

static int
some_fd(void)
{
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

        cr_assert_geq(fd, 0);
        return fd;
}

static bool
is_open(int fd)
{
        return fcntl(fd, F_GETFD) >= 0;
}

static int
pidfd_of(pid_t pid)
{
        int fd = (int) syscall(SYS_pidfd_open, pid, 0);

        cr_assert_geq(fd, 0);
        return fd;
}

Test(request, zygote_kill_cgroup_uncgroup_parse)
{
        struct spawner_request rq;
        struct packet p;
        int fd = some_fd();

        begin(&p, 6, "zygote");
        proto_pack_key_uint(&p.pk, "id", 7);
        proto_pack_str(&p.pk, "preload");
        msgpack_pack_array(&p.pk, 2);
        proto_pack_str(&p.pk, "json");
        proto_pack_str(&p.pk, "os.path");
        proto_pack_key_bool(&p.pk, "preload_if_installed", true);
        proto_pack_key_uint(&p.pk, "tmp_bytes", 1 << 20);
        proto_pack_key_uint(&p.pk, "workspace_bytes", 2 << 20);
        cr_assert_eq(parse(&p, -EBADF, &rq), 0);
        cr_expect_eq(rq.type, SPAWNER_REQUEST_ZYGOTE);
        cr_expect_eq(rq.id, 7);
        cr_expect_str_eq(rq.preload[1], "os.path");
        cr_expect_null(rq.preload[2]);
        cr_expect(rq.preload_if_installed);
        spawner_request_done(&rq);

        begin(&p, 2, "kill");
        proto_pack_key_uint(&p.pk, "id", 7);
        cr_assert_eq(parse(&p, -EBADF, &rq), 0);
        cr_expect_eq(rq.type, SPAWNER_REQUEST_KILL);
        spawner_request_done(&rq);

        begin(&p, 4, "cgroup");
        proto_pack_key_uint(&p.pk, "id", 7);
        proto_pack_key_uint(&p.pk, "ref", 9);
        proto_pack_key_uint(&p.pk, "cpu_milli", 500);
        cr_assert_eq(parse(&p, fd, &rq), 0);
        cr_expect_eq(rq.type, SPAWNER_REQUEST_CGROUP);
        cr_expect_eq(rq.ref, 9);
        cr_expect_eq(rq.cpu_milli, 500);
        cr_expect_eq(rq.fd, fd);
        spawner_request_done(&rq);
        cr_expect_not(is_open(fd), "spawner_request_done() closes the descriptor");

        begin(&p, 2, "uncgroup");
        proto_pack_key_uint(&p.pk, "ref", 9);
        cr_assert_eq(parse(&p, -EBADF, &rq), 0);
        cr_expect_eq(rq.type, SPAWNER_REQUEST_UNCGROUP);
        spawner_request_done(&rq);
}

Test(request, descriptor_only_with_cgroup)
{
        struct spawner_request rq;
        struct packet p;
        int fd = some_fd();

        begin(&p, 4, "cgroup");
        proto_pack_key_uint(&p.pk, "id", 7);
        proto_pack_key_uint(&p.pk, "ref", 9);
        proto_pack_key_uint(&p.pk, "cpu_milli", 0);
        cr_expect_eq(parse(&p, -EBADF, &rq), -EBADMSG, "cgroup without the worker's pidfd");

        begin(&p, 2, "kill");
        proto_pack_key_uint(&p.pk, "id", 7);
        cr_expect_eq(parse(&p, fd, &rq), -EBADMSG, "kill with a descriptor");
        cr_expect_not(is_open(fd), "a refused request's descriptor is closed");

        fd = some_fd();
        begin(&p, 2, "uncgroup");
        proto_pack_key_uint(&p.pk, "ref", 9);
        cr_expect_eq(parse(&p, fd, &rq), -EBADMSG, "uncgroup with a descriptor");
        cr_expect_not(is_open(fd));
}

Test(request, malformed_or_out_of_bounds)
{
        struct spawner_request rq;
        struct packet p;
        int fd;

        fd = some_fd();
        begin(&p, 4, "cgroup");
        proto_pack_key_uint(&p.pk, "id", 7);
        proto_pack_key_uint(&p.pk, "ref", 0);
        proto_pack_key_uint(&p.pk, "cpu_milli", 0);
        cr_expect_eq(parse(&p, fd, &rq), -EBADMSG, "ref 0 is no handle");
        cr_expect_not(is_open(fd));

        fd = some_fd();
        begin(&p, 5, "cgroup");
        proto_pack_key_uint(&p.pk, "id", 7);
        proto_pack_key_uint(&p.pk, "ref", 9);
        proto_pack_key_uint(&p.pk, "cpu_milli", 0);
        proto_pack_key_str(&p.pk, "path", "/sys/fs/cgroup/memory");
        cr_expect_eq(parse(&p, fd, &rq), -EBADMSG, "a key more than the type has (a path)");
        cr_expect_not(is_open(fd));

        fd = some_fd();
        begin(&p, 3, "cgroup");
        proto_pack_key_uint(&p.pk, "id", 7);
        proto_pack_key_uint(&p.pk, "ref", 9);
        cr_expect_eq(parse(&p, fd, &rq), -EBADMSG, "without its CPU quota");
        cr_expect_not(is_open(fd));

        fd = some_fd();
        begin(&p, 4, "cgroup");
        proto_pack_key_uint(&p.pk, "id", 7);
        proto_pack_key_str(&p.pk, "ref", "9");
        proto_pack_key_uint(&p.pk, "cpu_milli", 0);
        cr_expect_eq(parse(&p, fd, &rq), -EBADMSG, "a string for a number");

        fd = some_fd();
        begin(&p, 4, "cgroup");
        proto_pack_key_uint(&p.pk, "id", 7);
        proto_pack_key_uint(&p.pk, "pid", 1);
        proto_pack_key_uint(&p.pk, "cpu_milli", 0);
        cr_expect_eq(parse(&p, fd, &rq), -EBADMSG, "a pid instead of a ref");

        static const struct {
                int64_t cpu;
                const char *why;
        } bad_cpu[] = {
                {JAIL_CGROUP_CPU_MIN_MILLI - 1, "a quota under 1 ms per period"},
                {JAIL_CGROUP_CPU_MAX_MILLI + 1, "more CPUs than any machine"},
                {-500, "a negative quota"},
        };
        for (size_t i = 0; i < sizeof bad_cpu / sizeof bad_cpu[0]; i++) {
                fd = some_fd();
                begin(&p, 4, "cgroup");
                proto_pack_key_uint(&p.pk, "id", 7);
                proto_pack_key_uint(&p.pk, "ref", 9);
                proto_pack_str(&p.pk, "cpu_milli");
                msgpack_pack_int64(&p.pk, bad_cpu[i].cpu);
                cr_expect_eq(parse(&p, fd, &rq), -EBADMSG, "%s", bad_cpu[i].why);
                cr_expect_not(is_open(fd));
        }

        fd = some_fd();
        begin(&p, 4, "cgroup");
        proto_pack_key_uint(&p.pk, "id", 7);
        proto_pack_key_uint(&p.pk, "ref", 9);
        proto_pack_key_uint(&p.pk, "cpu_milli", JAIL_CGROUP_CPU_MAX_MILLI);
        cr_expect_eq(parse(&p, fd, &rq), 0, "the largest quota");
        spawner_request_done(&rq);

        begin(&p, 2, "uncgroup");
        proto_pack_str(&p.pk, "ref");
        msgpack_pack_int(&p.pk, -1);
        cr_expect_eq(parse(&p, -EBADF, &rq), -EBADMSG, "a negative ref");

        begin(&p, 2, "chmod");
        proto_pack_key_uint(&p.pk, "id", 7);
        cr_expect_eq(parse(&p, -EBADF, &rq), -EBADMSG, "an unknown type");

        begin(&p, 6, "zygote");
        proto_pack_key_uint(&p.pk, "id", 7);
        proto_pack_str(&p.pk, "preload");
        msgpack_pack_array(&p.pk, 1);
        proto_pack_str(&p.pk, "os; import x");
        proto_pack_key_bool(&p.pk, "preload_if_installed", false);
        proto_pack_key_uint(&p.pk, "tmp_bytes", 1);
        proto_pack_key_uint(&p.pk, "workspace_bytes", 1);
        cr_expect_eq(parse(&p, -EBADF, &rq), -EBADMSG, "a preload entry that is no module name");

        static const char truncated[] = {(char) 0x82, (char) 0xa4, 't', 'y'};
        cr_expect_eq(spawner_request_parse(truncated, sizeof truncated, -EBADF, &rq), -EBADMSG);
        static const char array[] = {(char) 0x91, 0x01};
        cr_expect_eq(spawner_request_parse(array, sizeof array, -EBADF, &rq), -EBADMSG, "not a map");
        static char big[SPAWNER_MAX_MESSAGE + 1];
        cr_expect_eq(spawner_request_parse(big, sizeof big, -EBADF, &rq), -EBADMSG, "too long");
}

Test(worker, pidfd_pid)
{
        int fd = some_fd(), self = pidfd_of(getpid());
        pid_t pid = 0, child;

        cr_expect_eq(spawner_pidfd_pid(fd, &pid), -EBADF, "a file is no pidfd");
        cr_expect_eq(spawner_pidfd_pid(self, &pid), 0);
        cr_expect_eq(pid, getpid());
        child = fork();
        if (child == 0)
                _exit(0);
        int cfd = pidfd_of(child);
        cr_assert_eq(waitpid(child, NULL, 0), child);
        cr_expect_eq(spawner_pidfd_pid(cfd, &pid), -ESRCH, "a reaped process has no pid");
        close(fd), close(self), close(cfd);
}

/* A "zygote" child that forks a "worker" grandchild; both wait for a kill. */
static pid_t
fork_tree(pid_t *ret_grandchild)
{
        int p[2];
        pid_t child;

        cr_assert_eq(pipe(p), 0);
        child = fork();
        if (child == 0) {
                pid_t g = fork();
                if (g == 0) {
                        pause();
                        _exit(0);
                }
                (void) !write(p[1], &g, sizeof g);
                pause();
                _exit(0);
        }
        cr_assert_eq(read(p[0], ret_grandchild, sizeof *ret_grandchild), (ssize_t) sizeof *ret_grandchild);
        close(p[0]), close(p[1]);
        return child;
}

Test(worker, descends_from_its_zygote_only)
{
        pid_t worker, zygote = fork_tree(&worker);

        cr_expect_eq(spawner_pid_descends(worker, zygote), 0, "a grandchild");
        cr_expect_eq(spawner_pid_descends(getpid(), getppid()), 0, "a child");
        cr_expect_eq(spawner_pid_descends(zygote, worker), -EPERM, "the other way round");
        cr_expect_eq(spawner_pid_descends(getpid(), zygote), -EPERM, "an unrelated process");
        cr_expect_eq(spawner_pid_descends(1, zygote), -EPERM, "init");
        cr_expect_eq(spawner_pid_descends(zygote, zygote), -EPERM, "the zygote itself");
        kill(worker, SIGKILL);
        kill(zygote, SIGKILL);
        waitpid(zygote, NULL, 0);
}

static void
pack_limit(struct packet *p, uint64_t ref, uint64_t memory, uint64_t nproc, uint64_t cpu)
{
        begin(p, 5, "limit");
        proto_pack_key_uint(&p->pk, "ref", ref);
        proto_pack_key_uint(&p->pk, "memory_bytes", memory);
        proto_pack_key_uint(&p->pk, "nproc", nproc);
        proto_pack_key_uint(&p->pk, "cpu_milli", cpu);
}

Test(request, limit_parse)
{
        struct spawner_request rq;
        struct packet p;

        pack_limit(&p, 9, 64 << 20, 8, 250);
        cr_assert_eq(parse(&p, -EBADF, &rq), 0);
        cr_expect_eq(rq.type, SPAWNER_REQUEST_LIMIT);
        cr_expect_eq(rq.ref, 9);
        cr_expect_eq(rq.memory_bytes, 64 << 20);
        cr_expect_eq(rq.nproc, 8);
        cr_expect_eq(rq.cpu_milli, 250);
        spawner_request_done(&rq);

        pack_limit(&p, 9, 64 << 20, 8, 0);
        cr_expect_eq(parse(&p, -EBADF, &rq), 0, "no CPU quota");
        spawner_request_done(&rq);
        pack_limit(&p, 0, 64 << 20, 8, 0);
        cr_expect_eq(parse(&p, -EBADF, &rq), -EBADMSG, "ref 0");
        pack_limit(&p, 9, 0, 8, 0);
        cr_expect_eq(parse(&p, -EBADF, &rq), -EBADMSG, "no memory at all");
        pack_limit(&p, 9, 64 << 20, 0, 0);
        cr_expect_eq(parse(&p, -EBADF, &rq), -EBADMSG, "no process at all");
        pack_limit(&p, 9, 64 << 20, 8, JAIL_CGROUP_CPU_MIN_MILLI - 1);
        cr_expect_eq(parse(&p, -EBADF, &rq), -EBADMSG, "a quota below the kernel's smallest");
        pack_limit(&p, 9, 64 << 20, 8, JAIL_CGROUP_CPU_MAX_MILLI + 1);
        cr_expect_eq(parse(&p, -EBADF, &rq), -EBADMSG, "a quota above the range");
        int fd = some_fd();
        pack_limit(&p, 9, 64 << 20, 8, 0);
        cr_expect_eq(parse(&p, fd, &rq), -EBADMSG, "limit with a descriptor");
        cr_expect_not(is_open(fd), "the descriptor is closed on refusal");
        begin(&p, 4, "limit");
        proto_pack_key_uint(&p.pk, "ref", 9);
        proto_pack_key_uint(&p.pk, "memory_bytes", 64 << 20);
        proto_pack_key_uint(&p.pk, "nproc", 8);
        cr_expect_eq(parse(&p, -EBADF, &rq), -EBADMSG, "a key missing");
}

Test(worker, limit_only_lowers)
{
        static struct spawner_cgroup table[SPAWNER_MAX_CGROUPS];
        struct pool_config c = {.limits = {.memory_bytes = 64 << 20, .nproc = 16}};
        struct spawner_request rq = {
                .type = SPAWNER_REQUEST_LIMIT, .ref = 5, .memory_bytes = 32 << 20, .nproc = 8};

        cr_expect_eq(spawner_cgroup_limit(table, &c, &rq), -ENOENT, "an unknown ref");
        table[3].ref = 5; /* (no group behind it: every refusal comes first) */
        rq.memory_bytes = (64 << 20) + 1;
        cr_expect_eq(spawner_cgroup_limit(table, &c, &rq), -ERANGE, "more memory than the spawner's");
        rq.memory_bytes = 32 << 20;
        rq.nproc = 17;
        cr_expect_eq(spawner_cgroup_limit(table, &c, &rq), -ERANGE, "more processes than the spawner's");
        rq.nproc = 8;
        c.limits.cpu_milli = 500;
        rq.cpu_milli = 0;
        cr_expect_eq(spawner_cgroup_limit(table, &c, &rq), -ERANGE, "lifting a configured quota");
        rq.cpu_milli = 501;
        cr_expect_eq(spawner_cgroup_limit(table, &c, &rq), -ERANGE, "a quota above the configured one");
        table[3].ref = 0;
}

Test(worker, cgroup_add_refuses_before_creating)
{
        static struct spawner_cgroup table[SPAWNER_MAX_CGROUPS];
        struct pool_config c = {.limits = {.memory_bytes = 64 << 20, .nproc = 16}};
        pid_t worker, zygote = fork_tree(&worker);
        int self = pidfd_of(getpid()), fd = -EBADF;
        struct spawner_request rq = {.type = SPAWNER_REQUEST_CGROUP, .id = 1, .ref = 5, .fd = self};

        cr_expect_eq(spawner_cgroup_add(table, &c, JAIL_CGROUP_V1, zygote, &rq, &fd), -EPERM,
                     "a process outside the zygote");
        cr_expect_eq(spawner_cgroup_add(table, &c, JAIL_CGROUP_NONE, zygote, &rq, &fd), -EOPNOTSUPP);
        for (size_t i = 0; i < SPAWNER_MAX_CGROUPS; i++)
                cr_expect_eq(table[i].ref, 0, "nothing was created");
        table[3].ref = 5;
        cr_expect_eq(spawner_cgroup_add(table, &c, JAIL_CGROUP_V1, zygote, &rq, &fd), -EEXIST,
                     "a ref in use");
        cr_expect_eq(fd, -EBADF);
        close(self);
        kill(worker, SIGKILL);
        kill(zygote, SIGKILL);
        waitpid(zygote, NULL, 0);
}

Test(stale, names_carry_their_owner)
{
        char name[64];
        uint64_t start;
        pid_t pid;

        cr_assert_eq(spawner_cgroup_name(1234, 987654321, 4321, name, sizeof name), 0);
        cr_expect_str_eq(name, "w1234.987654321-4321");
        cr_expect_eq(spawner_cgroup_name_owner(name, &pid, &start), 1);
        cr_expect_eq(pid, 1234);
        cr_expect_eq(start, 987654321);
        cr_expect_eq(spawner_cgroup_name(1234, 987654321, 4321, name, 8), -ENOBUFS);

        cr_expect_eq(spawner_cgroup_name_owner("w1011-22718", &pid, &start), 0, "an older name, no start");
        cr_expect_eq(pid, 1011);
        cr_expect_eq(start, 0);

        static const char *const not_ours[] = {
                "vivarium",
                "w",
                "w12",
                "w12-",
                "w-12",
                "w12.-3",
                "w12.5",
                "w12.5-",
                "w12.5-3x",
                "x12.5-3",
                "w0.5-3",
                "w012.5-3",
                "w12.05-3",
                "w+12-3",
                "w 12-3",
                "w12-3-4",
                "w99999999999-3",
                "w12.99999999999999999999-3",
                "w12.5-3/..",
        };
        for (size_t i = 0; i < sizeof not_ours / sizeof not_ours[0]; i++) {
                cr_expect_eq(spawner_cgroup_name_owner(not_ours[i], &pid, &start), -EINVAL, "%s",
                             not_ours[i]);
                cr_expect_not(spawner_cgroup_is_stale(not_ours[i]), "%s is left alone", not_ours[i]);
        }
}

Test(stale, only_a_dead_owners_groups)
{
        char name[64];
        uint64_t self_start, start;
        pid_t child;

        cr_assert_eq(spawner_process_start(getpid(), &self_start), 0);
        cr_assert_gt(self_start, 0);
        cr_assert_eq(spawner_process_start(getppid(), &start), 0);
        cr_expect_leq(start, self_start, "a parent starts no later than its child");

        cr_assert_eq(spawner_cgroup_name(getpid(), self_start, 77, name, sizeof name), 0);
        cr_expect_not(spawner_cgroup_is_stale(name), "a live owner's group");
        (void) snprintf(name, sizeof name, "w%d-77", (int) getpid());
        cr_expect_not(spawner_cgroup_is_stale(name), "an older name whose pid is alive");
        cr_assert_eq(spawner_cgroup_name(getpid(), self_start + 1, 77, name, sizeof name), 0);
        cr_expect(spawner_cgroup_is_stale(name), "the pid is alive but someone else's now");

        child = fork();
        if (child == 0)
                _exit(0);
        /* Exited, not yet reaped: a zombie makes no groups. */
        cr_assert_eq(waitid(P_PID, (id_t) child, &(siginfo_t){}, WEXITED | WNOWAIT), 0);
        cr_expect_eq(spawner_process_start(child, &start), -ESRCH, "a zombie");
        cr_assert_eq(spawner_cgroup_name(child, self_start, 77, name, sizeof name), 0);
        cr_expect(spawner_cgroup_is_stale(name), "a zombie's group");
        cr_assert_eq(waitpid(child, NULL, 0), child);
        cr_expect_eq(spawner_process_start(child, &start), -ESRCH, "a reaped process");
        (void) snprintf(name, sizeof name, "w%d-77", (int) child);
        cr_expect(spawner_cgroup_is_stale(name), "an older name whose pid is free");
        cr_expect_eq(spawner_process_start(0, &start), -ESRCH);
}

/* The zygote program and the runner directory, as spawner_add_sources() opens
 * them: a tree below a 0700 directory whose path holds a space and non-ASCII
 * bytes. */
static char tree[256], zygote[512], runner[512];

static void
make_tree(void)
{
        char module[600];
        int fd;

        (void) snprintf(tree, sizeof tree, "/tmp/vivarium-sources.XXXXXX");
        cr_assert(mkdtemp(tree)); /* mode 0700 */
        (void) snprintf(zygote, sizeof zygote, "%s/build \xc3\xa9", tree);
        cr_assert_eq(mkdir(zygote, 0755), 0);
        (void) snprintf(runner, sizeof runner, "%s/build \xc3\xa9/pool zygote", tree);
        cr_assert_eq(mkdir(runner, 0755), 0);
        (void) snprintf(module, sizeof module, "%s/vivarium_runner.py", runner);
        fd = open(module, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        cr_assert_geq(fd, 0);
        close(fd);
        (void) snprintf(zygote, sizeof zygote, "%s/build \xc3\xa9/vivarium-zygote", tree);
        fd = open(zygote, O_WRONLY | O_CREAT | O_CLOEXEC, 0755);
        cr_assert_geq(fd, 0);
        close(fd);
}

static void
remove_tree(void)
{
        char cmd[600];

        (void) snprintf(cmd, sizeof cmd, "rm -rf '%s'", tree);
        (void) !system(cmd);
}

/* Real and effective ids of nobody, keeping root as the saved ids so that the
 * fixture can remove the tree afterwards. */
static void
become_nobody(void)
{
        cr_assert_eq(setresgid(65534, 65534, 0), 0);
        cr_assert_eq(setresuid(65534, 65534, 0), 0);
}

static void
become_root(void)
{
        cr_assert_eq(setresuid(0, 0, 0), 0);
        cr_assert_eq(setresgid(0, 0, 0), 0);
}

static struct jail_spec *
spec_for(enum jail_idmap_mode mode)
{
        struct jail_spec *s = NULL;

        cr_assert_eq(jail_spec_new(&s), 0);
        s->idmap = mode == JAIL_IDMAP_RANGE
                           ? (struct jail_idmap){JAIL_IDMAP_RANGE, JAIL_RANGE_DEFAULT_BASE,
                                                 JAIL_RANGE_DEFAULT_BASE, JAIL_RANGE_DEFAULT_COUNT}
                           : (struct jail_idmap){JAIL_IDMAP_SINGLE, getuid(), getgid(), 1};
        return s;
}

Test(sources, root_clones_what_the_jail_could_not_reach, .init = make_tree, .fini = remove_tree)
{
        struct pool_config c = {.zygote_path = zygote, .runner_dir = runner};
        struct jail_spec *s = spec_for(JAIL_IDMAP_RANGE);
        char *error = NULL;

        if (geteuid() != 0)
                cr_skip_test("needs root (CAP_SYS_ADMIN) to clone mounts");
        cr_assert_eq(spawner_add_sources(s, &c, &error), 0, "%s", error ? error : "");
        cr_assert_eq(s->n_binds, 2);
        cr_expect_str_eq(s->binds[0].source, zygote);
        cr_expect_str_eq(s->binds[0].target, zygote);
        cr_expect_geq(s->binds[0].tree_fd, 0, "a detached mount, not a path to look up");
        cr_expect_str_eq(s->binds[1].target, runner);
        cr_expect_geq(s->binds[1].tree_fd, 0);
        jail_spec_free(s);
}

Test(sources, missing_paths_are_named, .init = make_tree, .fini = remove_tree)
{
        struct pool_config c = {.zygote_path = "/nonexistent/vivarium-zygote", .runner_dir = runner};
        struct jail_spec *s = spec_for(JAIL_IDMAP_SINGLE);
        char *error = NULL;

        cr_expect_eq(spawner_add_sources(s, &c, &error), -ENOENT);
        cr_assert(error);
        cr_expect(strstr(error, "the zygote program '/nonexistent/vivarium-zygote' does not exist"), "%s",
                  error);
        free(error);
        error = NULL;
        unlink(zygote);
        cr_expect_eq(mkdir(zygote, 0755), 0);
        c.zygote_path = zygote;
        cr_expect_eq(spawner_add_sources(s, &c, &error), -ENOEXEC);
        cr_expect(error && strstr(error, "is not a regular file"), "%s", error ? error : "");
        free(error);
        jail_spec_free(s);
}

/* As root the jail's ids are no user of the host: it needs the bits for others. */
Test(sources, root_needs_what_others_may, .init = make_tree, .fini = remove_tree)
{
        struct pool_config c = {.zygote_path = zygote, .runner_dir = runner};
        struct jail_spec *s = spec_for(JAIL_IDMAP_RANGE);
        char module[600], *error = NULL;

        cr_assert_eq(chmod(zygote, 0750), 0);
        cr_expect_eq(spawner_add_sources(s, &c, &error), -EACCES);
        cr_expect(error && strstr(error, "mode 0750) is not executable by others"), "%s",
                  error ? error : "");
        free(error);
        error = NULL;
        cr_assert_eq(chmod(zygote, 0755), 0);
        (void) snprintf(module, sizeof module, "%s/vivarium_runner.py", runner);
        cr_assert_eq(chmod(module, 0600), 0);
        jail_spec_free(s);
        s = spec_for(JAIL_IDMAP_RANGE);
        cr_expect_eq(spawner_add_sources(s, &c, &error), -EACCES);
        cr_expect(error && strstr(error, "vivarium_runner.py' (owner ") &&
                          strstr(error, "not readable by others"),
                  "%s", error ? error : "");
        free(error);
        jail_spec_free(s);
}

/* An ordinary user's jail binds by path, with the user's own ids; what the
 * user cannot reach is refused here, naming the path, the user and the
 * directory in the way. */
Test(sources, an_unreachable_path_names_the_user_and_the_directory, .init = make_tree, .fini = remove_tree)
{
        struct pool_config c = {.zygote_path = zygote, .runner_dir = runner};
        struct jail_spec *s = NULL;
        char *error = NULL, expect[600];

        if (geteuid() != 0)
                cr_skip_test("needs root to become another user");
        become_nobody();
        s = spec_for(JAIL_IDMAP_SINGLE);
        cr_expect_eq(spawner_add_sources(s, &c, &error), -EACCES);
        become_root();
        cr_assert(error);
        cr_expect(strstr(error, "(uid 65534) cannot reach the zygote program"), "%s", error);
        (void) snprintf(expect, sizeof expect, "'%s' (owner root, mode 0700) is closed to it", tree);
        cr_expect(strstr(error, expect), "%s", error);
        cr_expect(strstr(error, "VIVARIUM_LIBEXECDIR"), "%s", error);
        cr_expect_eq(s->n_binds, 0);
        free(error);
        jail_spec_free(s);
}

Test(sources, an_ordinary_user_binds_by_path, .init = make_tree, .fini = remove_tree)
{
        struct pool_config c = {.zygote_path = zygote, .runner_dir = runner};
        struct jail_spec *s = NULL;
        char *error = NULL;

        if (geteuid() != 0)
                cr_skip_test("needs root to make the tree another user's");
        cr_assert_eq(chown(tree, 65534, 65534), 0);
        become_nobody();
        s = spec_for(JAIL_IDMAP_SINGLE);
        cr_expect_eq(spawner_add_sources(s, &c, &error), 0, "%s", error ? error : "");
        become_root();
        cr_assert_eq(s->n_binds, 2);
        cr_expect_eq(s->binds[0].tree_fd, -EBADF, "no privilege to clone: the child binds it by path");
        cr_expect_str_eq(s->binds[1].source, runner);
        jail_spec_free(s);
}

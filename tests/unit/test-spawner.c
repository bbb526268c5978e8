/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the spawner's gate: spawner_request_parse() accepts exactly
 * the four request types with their keys (a CPU quota in its range), and a
 * descriptor with "cgroup" only (closing it otherwise); spawner_pidfd_pid()
 * and spawner_pid_descends() tell a worker of a zygote from any other
 * process; spawner_cgroup_add() refuses before it creates anything.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
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

        begin(&p, 5, "zygote");
        proto_pack_key_uint(&p.pk, "id", 7);
        proto_pack_str(&p.pk, "preload");
        msgpack_pack_array(&p.pk, 2);
        proto_pack_str(&p.pk, "json");
        proto_pack_str(&p.pk, "os.path");
        proto_pack_key_uint(&p.pk, "tmp_bytes", 1 << 20);
        proto_pack_key_uint(&p.pk, "workspace_bytes", 2 << 20);
        cr_assert_eq(parse(&p, -EBADF, &rq), 0);
        cr_expect_eq(rq.type, SPAWNER_REQUEST_ZYGOTE);
        cr_expect_eq(rq.id, 7);
        cr_expect_str_eq(rq.preload[1], "os.path");
        cr_expect_null(rq.preload[2]);
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

        begin(&p, 5, "zygote");
        proto_pack_key_uint(&p.pk, "id", 7);
        proto_pack_str(&p.pk, "preload");
        msgpack_pack_array(&p.pk, 1);
        proto_pack_str(&p.pk, "os; import x");
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

Test(worker, cgroup_add_refuses_before_creating)
{
        static struct spawner_cgroup table[SPAWNER_MAX_CGROUPS];
        struct pool_config c = {.memory_bytes = 64 << 20, .nproc = 16};
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

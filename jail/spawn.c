/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * jail_spawn(): clone into new user, mount, pid, net, ipc, uts and cgroup
 * namespaces, let the parent write the id maps, assemble the root from the
 * mount plan, pivot into it and exec the program.
 *
 * Trust zone: the spawning process (trusted) and the child before exec. The
 * caller must be single-threaded: the child is created with a raw clone()
 * and keeps using libc.
 *
 * Ordering that matters:
 *  - the child waits on a pipe until the parent has written uid_map/gid_map;
 *  - PR_SET_PDEATHSIG is armed after the child's last credential change (a
 *    change of ids clears it) and the parent's liveness is checked after
 *    arming it, which closes the race with a parent that died in between;
 *  - failures travel back over a close-on-exec pipe: end of file without a
 *    message means the exec succeeded;
 *  - a spec's cgroup is joined while the child waits for the maps, before it
 *    runs anything.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "caps.h"
#include "cgroup.h"
#include "coverage.h"
#include "fd-util.h"
#include "idmap.h"
#include "jail.h"
#include "macro.h"
#include "mount-plan.h"
#include "net.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

#define JAIL_CLONE_FLAGS                                                                           \
        (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | \
         CLONE_NEWCGROUP | CLONE_PIDFD)

struct child_report {
        int error; /* positive errno */
        char message[1024];
};

struct child_ctx {
        const struct jail_spec *spec;
        const struct jail_mount_plan *plan;
        int sync_fd;   /* read end: parent writes one byte when maps are in place */
        int report_fd; /* write end: child_report on failure, EOF on exec */
};

_noreturn_ _printf_(3, 4) static void child_fail(int report_fd, int error, const char *fmt, ...)
{
        struct child_report rep = {.error = error < 0 ? -error : error};
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(rep.message, sizeof rep.message, fmt, ap);
        va_end(ap);
        (void) !write(report_fd, &rep, sizeof rep);
        _exit(125);
}

static int
child_set_ids(const struct jail_spec *s)
{
        uid_t uid = jail_idmap_inside_uid(&s->idmap);

        /* Single mode forbids setgroups (denied before gid_map was written). */
        if (s->idmap.mode == JAIL_IDMAP_RANGE && setgroups(0, NULL) < 0)
                return -errno;
        if (setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0)
                return -errno;
        return 0;
}

static int
child_check_parent(int sync_fd)
{
        struct pollfd p = {.fd = sync_fd, .events = POLLIN};

        /* The parent holds the write end until we exec; a hang-up means it died. */
        if (poll(&p, 1, 0) < 0)
                return -errno;
        return (p.revents & (POLLHUP | POLLERR)) ? -ESRCH : 0;
}

static int
child_pivot(const struct jail_mount_plan *plan, size_t *ret_step)
{
        int r;

        /* bubblewrap's sequence: a scratch tmpfs becomes the root first, so the
         * host tree stays reachable at /oldroot while the new root is filled, even
         * for sources below the directory the scratch tmpfs covers. */
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return -errno;
        if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k") < 0)
                return -errno;
        if (chdir("/tmp") < 0 || mkdir("newroot", 0755) < 0 || mkdir("oldroot", 0755) < 0)
                return -errno;
        if (syscall(SYS_pivot_root, ".", "oldroot") < 0 || chdir("/") < 0)
                return -errno;
        if (mount("tmpfs", "/newroot", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m,nr_inodes=4096") <
            0)
                return -errno;
        r = jail_mount_plan_apply(plan, "/oldroot", "/newroot", ret_step);
        if (r < 0)
                return r;
        /* pivot_root(".", ".") stacks the old root on the new one; detaching it
         * leaves no path back to the host tree (pivot_root(2)). */
        if (chdir("/newroot") < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
                return -errno;
        if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
                return -errno;
        if (mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
                return -errno;
        return chdir("/workspace") < 0 ? -errno : 0;
}

static int
child_fds(const struct jail_spec *s, int report_fd)
{
        int keep[JAIL_MAX_PASS_FDS + 1];
        int want[3 + JAIL_MAX_PASS_FDS];
        _cleanup_close_ int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        int r;

        if (null < 0)
                return -errno;
        /* 0-2 become /dev/null (the program sets up its own stdio); passed fds
         * become 3, 4, ...; the report pipe survives until exec closes it. */
        for (size_t i = 0; i < 3; i++)
                want[i] = null;
        for (size_t i = 0; i < s->n_pass_fds; i++)
                want[3 + i] = s->pass_fds[i];
        r = fd_arrange_stdio(want, 3 + s->n_pass_fds);
        if (r < 0)
                return r;
        for (size_t i = 0; i < s->n_pass_fds; i++)
                keep[i] = (int) (3 + i);
        keep[s->n_pass_fds] = report_fd;
        return close_all_fds_except(keep, s->n_pass_fds + 1);
}

_noreturn_ static void
child_main(struct child_ctx *c)
{
        const struct jail_spec *s = c->spec;
        size_t step = 0;
        char byte;
        int r;

        if (loop_read_exact(c->sync_fd, &byte, 1) < 0)
                _exit(125); /* the parent is gone or failed to write the maps */
        r = child_set_ids(s);
        if (r < 0)
                child_fail(c->report_fd, r, "switching to the jail's user ids");
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || child_check_parent(c->sync_fd) < 0)
                _exit(125);
        if (sethostname(JAIL_HOSTNAME, strlen(JAIL_HOSTNAME)) < 0 ||
            setdomainname(JAIL_HOSTNAME, strlen(JAIL_HOSTNAME)) < 0)
                child_fail(c->report_fd, -errno, "setting the host name");
        r = jail_net_loopback_up();
        if (r < 0)
                child_fail(c->report_fd, r, "bringing up the loopback interface");
        /* The last moment the build tree is in reach; what follows until the
         * exec is not counted (docs/COVERAGE.md). */
        coverage_flush();
        r = child_pivot(c->plan, &step);
        if (r < 0)
                child_fail(c->report_fd, r, "building the jail's root (step %zu: %s %s)", step,
                           step < c->plan->n_steps ? jail_mount_kind_to_string(c->plan->steps[step].kind)
                                                   : "",
                           step < c->plan->n_steps ? c->plan->steps[step].target : "pivot_root");
        r = jail_caps_keep_across_exec(s->keep_caps);
        if (r < 0)
                child_fail(c->report_fd, r, "setting the program's capabilities");
        r = child_fds(s, c->report_fd);
        if (r < 0)
                child_fail(c->report_fd, r, "arranging file descriptors");
        (void) fd_set_cloexec(c->report_fd, true);
        execve(s->argv[0], s->argv, s->envp ? s->envp : (char *[]){NULL});
        child_fail(c->report_fd, -errno, "executing %s inside the jail", s->argv[0]);
}

static int
read_report(int fd, char **ret_error)
{
        struct child_report rep;
        ssize_t n;

        do
                n = read(fd, &rep, sizeof rep);
        while (n < 0 && errno == EINTR);
        if (n == 0)
                return 0; /* exec succeeded */
        if (n != (ssize_t) sizeof rep)
                return n < 0 ? -errno : -EPROTO;
        rep.message[sizeof rep.message - 1] = 0;
        if (ret_error)
                *ret_error = strdup(rep.message);
        return rep.error > 0 ? -rep.error : -EPROTO;
}

static void
kill_and_reap(pid_t pid, int pidfd)
{
        (void) syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
        (void) waitpid(pid, NULL, 0);
        safe_close(pidfd);
}

static int
parent_finish(const struct jail_spec *s, pid_t pid, int pidfd, int sync_w, int report_r,
              struct jail_process *ret, char **ret_error)
{
        int r = jail_idmap_write(&s->idmap, pid);

        if (r < 0) {
                kill_and_reap(pid, pidfd);
                if (ret_error)
                        *ret_error = strdup("writing the jail's uid_map/gid_map");
                return r;
        }
        /* While the child still waits for the sync byte: everything it will
         * fork is born in the group, none of it can run outside. */
        r = s->cgroup ? jail_cgroup_attach(s->cgroup, pid) : 0;
        if (r < 0) {
                kill_and_reap(pid, pidfd);
                if (ret_error)
                        *ret_error = strdup("putting the jail into its cgroup");
                return r;
        }
        r = loop_write(sync_w, "x", 1);
        if (r >= 0)
                r = read_report(report_r, ret_error);
        if (r < 0) {
                kill_and_reap(pid, pidfd);
                return r;
        }
        *ret = (struct jail_process){.pid = pid, .pidfd = pidfd};
        return 0;
}

int
jail_spawn(const struct jail_spec *s, struct jail_process *ret, char **ret_error)
{
        _cleanup_(jail_mount_plan_freep) struct jail_mount_plan *plan = NULL;
        _cleanup_close_pair_ int sync[2] = {-EBADF, -EBADF}, report[2] = {-EBADF, -EBADF};
        const char *why = NULL;
        int pidfd = -EBADF;
        long pid;
        int r;

        r = jail_spec_validate(s, &why);
        if (r < 0) {
                if (ret_error)
                        *ret_error = strdup(why);
                return r;
        }
        r = jail_mount_plan_build(s, "/", &plan);
        if (r < 0)
                return r;
        if (pipe2(sync, O_CLOEXEC) < 0 || pipe2(report, O_CLOEXEC) < 0)
                return -errno;
        pid = syscall(SYS_clone, JAIL_CLONE_FLAGS | SIGCHLD, NULL, &pidfd, NULL, NULL);
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                struct child_ctx c = {.spec = s, .plan = plan, .sync_fd = sync[0], .report_fd = report[1]};
                (void) close(sync[1]);
                (void) close(report[0]);
                child_main(&c);
        }
        report[1] = safe_close(report[1]);
        sync[0] = safe_close(sync[0]);
        return parent_finish(s, (pid_t) pid, pidfd, sync[1], report[0], ret, ret_error);
}

const char *
jail_spawn_hint(int error)
{
        switch (error) {
        case -EPERM:
        case -EACCES:
                return "creating user namespaces is not permitted here: check sysctl "
                       "kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0, and any AppArmor "
                       "restriction (kernel.apparmor_restrict_unprivileged_userns=0)";
        case -ENOSPC:
                return "the user or mount namespace limit is reached: raise user.max_user_namespaces or "
                       "user.max_mnt_namespaces";
        case -ENOSYS:
        case -EINVAL:
                return "this kernel lacks a namespace feature vivarium needs (Linux 5.3 or later with user, "
                       "pid, "
                       "net, ipc, uts and cgroup namespaces)";
        default:
                return NULL;
        }
}

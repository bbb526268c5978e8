# SPDX-License-Identifier: LGPL-2.1-or-later
"""The shared half of the isolation probes that run *inside* a vivarium jail.

What it is
    A TAP harness and the helpers every probe file uses: ``check`` (register
    one test), ``expect``/``expect_oserror``/``expect_errno`` (assertions),
    ``raw`` (one raw syscall through ctypes), ``in_child`` (run something
    risky in a forked child), /proc and mountinfo parsers.  The probe files
    (``probe_*.py``, one per section of design/THREATS.md) register checks
    with ``@check(...)``; ``main()`` runs them in registration order.

How it runs
    The code of a vivarium request is one Python program, so the probes are
    never imported: tests/security/common.sh (``make_bundle``) concatenates a
    two-line header (``PROBE_VIA``, ``PROBE_AS``: how the runner reaches the
    jail and which mode it expects), this file, the probe files in a fixed
    order and a final ``main()`` into one script, dropping the probe files'
    ``from jail_probe import *`` lines.  isolation.sh sends that bundle through
    a one-shot ``vivarium run``; daemon.sh through ``vivarium run --socket``
    to a warm worker of ``vivarium serve``.  The bundle prints TAP: ``ok N -``,
    ``not ok N -`` (``# TODO reason`` for a known, reported hole), ``#``
    diagnostics and ``1..N``.

Technique
    ``raw()`` issues one syscall with deliberately invalid arguments (pointer
    1, fd -1, bogus flags) so that an *allowed* call fails harmlessly (EFAULT,
    EBADF, EINVAL, ESRCH) while a *filtered* one returns the filter's errno
    (EPERM, ENOSYS, EAFNOSUPPORT); checks assert that exact errno.  Calls
    whose success would change this process run in a forked child.  Syscall
    numbers are x86_64's; elsewhere the raw checks report SKIP.

Only the standard library and ctypes are used.  Every check is independent:
an exception is reported as "not ok" with a diagnostic and the next check runs.
"""

import ctypes
import errno
import os
import platform
import signal
import socket
import struct
import sys
import traceback

E = errno

# How the runner reaches the jail ("run": a one-shot `vivarium run`;
# "daemon": a warm worker of `vivarium serve`) and which mode it expects
# ("root" or "unprivileged"); the bundle's header sets them.
VIA = globals().get("PROBE_VIA", "run")
EXPECT_AS = globals().get("PROBE_AS", "")
# Names the processes the probes leave behind on purpose, for the runner.
TOKEN = globals().get("PROBE_TOKEN", "probe")

# --------------------------------------------------------------------------
# TAP
# --------------------------------------------------------------------------

CHECKS = []


class Skip(Exception):
    """Raised by a check that does not apply here; reported as SKIP."""


class Fail(AssertionError):
    """A check's assertion failed; the message becomes diagnostics."""


class KnownHole(Fail):
    """A failure that is a known, reported isolation hole: "not ok # TODO"."""

    def __init__(self, reason, msg):
        super().__init__(msg)
        self.reason = reason


def check(desc):
    """Register the decorated function as one TAP test."""
    def register(fn):
        CHECKS.append((desc, fn))
        return fn
    return register


def expect(cond, msg):
    if not cond:
        raise Fail(msg)


def emit(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def diag(text):
    for line in str(text).splitlines() or [""]:
        emit("# " + line)


def run_checks():
    n = 0
    for desc, fn in CHECKS:
        n += 1
        desc = desc.replace("#", "")  # a "#" would start a TAP directive
        try:
            note = fn()
        except Skip as e:
            emit("ok %d - # SKIP %s: %s" % (n, desc, e))
            continue
        except KnownHole as e:
            emit("not ok %d - %s # TODO %s" % (n, desc, e.reason.replace("#", "")))
            diag(e)
            continue
        except Fail as e:
            emit("not ok %d - %s" % (n, desc))
            diag(e)
            continue
        except BaseException as e:  # one failure must not abort the rest
            emit("not ok %d - %s" % (n, desc))
            diag("%s: %s" % (type(e).__name__, e))
            diag("".join(traceback.format_exception(e)).rstrip())
            continue
        emit("ok %d - %s" % (n, desc))
        if note:
            diag(note)
    emit("1..%d" % n)


# --------------------------------------------------------------------------
# raw syscalls
# --------------------------------------------------------------------------

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

X86_64 = platform.machine() == "x86_64" and struct.calcsize("P") == 8

# x86_64 numbers (asm/unistd_64.h; the newest from the kernel's syscall_64.tbl).
NR = dict(
    read=0, write=1, close=3, fstat=5, mmap=9, ioctl=16, shmget=29, shmat=30,
    shmctl=31, dup=32, getpid=39, socket=41, socketpair=53, clone=56,
    execve=59, kill=62, uname=63, semget=64, semop=65, semctl=66, shmdt=67,
    msgget=68, msgsnd=69, msgrcv=70, msgctl=71, flock=73, getcwd=79,
    sysinfo=99, ptrace=101, getuid=102, syslog=103, rt_sigqueueinfo=129,
    mknod=133, uselib=134, personality=135, ustat=136, sysfs=139,
    getpriority=140, setpriority=141, sched_setscheduler=144,
    sched_getscheduler=145, vhangup=153, modify_ldt=154,
    pivot_root=155, _sysctl=156, adjtimex=159, chroot=161, acct=163,
    settimeofday=164, mount=165, umount2=166, swapon=167, swapoff=168,
    reboot=169, sethostname=170, setdomainname=171, iopl=172, ioperm=173,
    create_module=174, init_module=175, delete_module=176, get_kernel_syms=177,
    query_module=178, quotactl=179, nfsservctl=180, sched_setaffinity=203,
    sched_getaffinity=204,
    io_setup=206, lookup_dcookie=212, semtimedop=220, clock_settime=227,
    tgkill=234, mbind=237, mq_open=240, mq_unlink=241, mq_timedsend=242,
    mq_timedreceive=243, mq_notify=244, mq_getsetattr=245, kexec_load=246,
    add_key=248, request_key=249, keyctl=250, ioprio_set=251, ioprio_get=252,
    migrate_pages=256, openat=257, mknodat=259, unshare=272, splice=275,
    move_pages=279, inotify_init1=294, rt_tgsigqueueinfo=297,
    perf_event_open=298, fanotify_init=300, prlimit64=302,
    name_to_handle_at=303, open_by_handle_at=304, clock_adjtime=305,
    setns=308, process_vm_readv=310, process_vm_writev=311, kcmp=312,
    finit_module=313, sched_setattr=314, seccomp=317, memfd_create=319,
    kexec_file_load=320, bpf=321, userfaultfd=323, pidfd_send_signal=424,
    io_uring_setup=425, io_uring_enter=426, io_uring_register=427,
    open_tree=428, move_mount=429, fsopen=430, fsconfig=431, fsmount=432,
    fspick=433, pidfd_open=434, clone3=435, pidfd_getfd=438,
    process_madvise=440, mount_setattr=442, quotactl_fd=443,
    landlock_create_ruleset=444, memfd_secret=447, process_mrelease=448,
    statmount=457, listmount=458, lsm_set_self_attr=460,
)

CLONE_THREAD = 0x00010000
CLONE_NEW = dict(
    CLONE_NEWTIME=0x00000080, CLONE_NEWNS=0x00020000,
    CLONE_NEWCGROUP=0x02000000, CLONE_NEWUTS=0x04000000,
    CLONE_NEWIPC=0x08000000, CLONE_NEWUSER=0x10000000,
    CLONE_NEWPID=0x20000000, CLONE_NEWNET=0x40000000,
)
TIOCSTI = 0x5412
TIOCLINUX = 0x541C
TIOCGWINSZ = 0x5413
UFFD_USER_MODE_ONLY = 1
AF_VSOCK = 40
AF_ALG = 38
O_PATH = 0o10000000
PR_SET_NAME = 15


def s64(v):
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >= 1 << 63 else v


def raw(nr, *args):
    """One raw syscall: (return value, errno or 0)."""
    if not X86_64:
        raise Skip("raw syscall numbers are known for x86_64 only")
    cargs = [ctypes.c_long(s64(a)) for a in args]
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *cargs)
    return r, (ctypes.get_errno() if r == -1 else 0)


def ename(e):
    return errno.errorcode.get(e, str(e)) if e else "no error"


def fmt_args(args):
    return "(%s)" % ", ".join(hex(int(a)) if abs(int(a)) > 255 else str(int(a)) for a in args)


def expect_errno(name, args, want, cleanup=None):
    """raw(NR[name], *args) must fail with exactly `want` (or one of a set).

    cleanup(r) undoes a call that unexpectedly succeeded (closes the fd,
    removes the IPC object) so a failing check leaves nothing behind."""
    wants = want if isinstance(want, (set, frozenset, tuple)) else {want}
    r, e = raw(NR[name], *args)
    if r >= 0 and cleanup:
        try:
            cleanup(r)
        except OSError:
            pass
    expect(r == -1 and e in wants,
           "%s%s returned %d (%s), want -1 (%s)"
           % (name, fmt_args(args), r, ename(e), "/".join(ename(w) for w in sorted(wants))))


def in_child(fn):
    """Run fn() in a forked child; return (wait status, repr of result)."""
    sys.stdout.flush()
    sys.stderr.flush()
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(rfd)
            out = repr(fn())
        except BaseException as e:
            out = "exception %s: %s" % (type(e).__name__, e)
            code = 1
        try:
            os.write(wfd, out.encode("ascii", "backslashreplace")[:4000])
        finally:
            os._exit(code)
    os.close(wfd)
    chunks = []
    while True:
        b = os.read(rfd, 4096)
        if not b:
            break
        chunks.append(b)
    os.close(rfd)
    _, status = os.waitpid(pid, 0)
    return status, b"".join(chunks).decode("ascii", "replace")


def describe_status(status):
    if os.WIFSIGNALED(status):
        return "killed by signal %d" % os.WTERMSIG(status)
    if os.WIFEXITED(status):
        return "exited with %d" % os.WEXITSTATUS(status)
    return "status %#x" % status


def expect_sigsys(fn, what):
    """fn() in a child must kill it with SIGSYS (the filter's KILL_PROCESS)."""
    if not X86_64:
        raise Skip("x86_64 only")
    status, out = in_child(fn)
    expect(os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSYS,
           "%s: child %s (returned %s)" % (what, describe_status(status), out))


def expect_oserror(fn, wants, what):
    wants = wants if isinstance(wants, (set, frozenset, tuple)) else {wants}
    try:
        fn()
    except OSError as e:
        expect(e.errno in wants, "%s: %s, want %s"
               % (what, e, "/".join(ename(w) for w in sorted(wants))))
        return
    raise Fail("%s succeeded" % what)


# --------------------------------------------------------------------------
# /proc
# --------------------------------------------------------------------------

def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def status_fields_text(text):
    """"Key:<tab>value" lines (/proc/*/status, fdinfo) as a dict."""
    fields = {}
    for line in text.splitlines():
        k, _, v = line.partition(":")
        fields[k] = v.strip()
    return fields


def status_fields(path="/proc/self/status"):
    return status_fields_text(read(path))


def numeric_proc_entries():
    return sorted(int(n) for n in os.listdir("/proc") if n.isdigit())


def proc_ppid(pid):
    try:
        return int(status_fields("/proc/%d/status" % pid).get("PPid", "-1"))
    except (OSError, ValueError):
        return -1


def descendants_of(pid):
    """Pids in /proc whose ancestry (through PPid) reaches pid."""
    parent = {p: proc_ppid(p) for p in numeric_proc_entries()}
    out = set()
    for p in parent:
        q = p
        while q in parent and q not in (0, 1):
            q = parent[q]
            if q == pid:
                out.add(p)
                break
    return out


def other_jail_pids():
    """Processes we can see that are neither pid 1 (our namespace's init), nor
    us, nor ours: none, since every worker has its own pid namespace."""
    me = os.getpid()
    ours = descendants_of(me)
    return [p for p in numeric_proc_entries() if p not in (1, me) and p not in ours]


def idmap_single():
    """True when the jail maps exactly one id (the unprivileged mode)."""
    try:
        lines = [l.split() for l in read("/proc/self/uid_map").splitlines() if l.strip()]
    except OSError:
        return False
    return len(lines) == 1 and lines[0][2] == "1"


# The mode the jail is in, from its id map: a single id in the unprivileged
# mode, a subordinate range as root.
UNPRIVILEGED = idmap_single()
MODE = "unprivileged" if UNPRIVILEGED else "root"

UNESC = {"\\040": " ", "\\011": "\t", "\\012": "\n", "\\134": "\\"}


def unescape(s):
    for k, v in UNESC.items():
        s = s.replace(k, v)
    return s


def mounts():
    """Parsed /proc/self/mountinfo: dicts with root, point, opts, fstype, source."""
    out = []
    for line in read("/proc/self/mountinfo").splitlines():
        left, _, right = line.partition(" - ")
        f = left.split()
        g = right.split()
        out.append(dict(line=line, root=unescape(f[3]), point=unescape(f[4]),
                        opts=set(f[5].split(",")), fstype=g[0],
                        source=unescape(g[1]) if len(g) > 1 else "",
                        super=set(g[2].split(",")) if len(g) > 2 else set()))
    return out


def ms_filter(pred):
    return [m for m in mounts() if pred(m)]


def set_comm(name):
    """PR_SET_NAME, so the host side can find this process by its comm."""
    libc.prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)


def inside_jail():
    """True in a vivarium jail: its own pid namespace under its init, its
    own hostname. Outside one (on a host, say), some checks would act on the
    real system: signals to pid 1, kill(-1), chroot."""
    try:
        return (read("/proc/1/comm").strip() == "vivarium-init" and os.getpid() < 100000
                and socket.gethostname() == "vivarium" and os.path.isdir("/workspace"))
    except OSError:
        return False


def main():
    try:
        sys.stdout.reconfigure(errors="backslashreplace")
    except Exception:
        pass
    if not inside_jail():
        emit("1..0 # SKIP not inside a vivarium jail: run tests/security/isolation.sh")
        sys.exit(77)
    run_checks()

# SPDX-License-Identifier: LGPL-2.1-or-later
"""THREATS.md §A, the syscall surface, seen from inside one jail.

Every syscall THREATS.md names is issued raw with arguments the kernel would
reject (the invalid-argument technique, see jail_probe.py): a filtered call
answers the filter's errno (EPERM; ENOSYS for clone3 and numbers the filter
does not know), an allowed one the kernel's harmless error.  Foreign ABIs
(i386 int 0x80, x32 numbers) must kill the whole process with SIGSYS, so they
run in forked children.  Socket families are in probe_sockets.py.
"""

import ctypes
import mmap
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

from jail_probe import *  # noqa: F401,F403 (the bundler drops this line)


@check("seccomp: every thread shows Seccomp 2, NoNewPrivs 1 and no capabilities")
def _():
    ready = threading.Barrier(4)
    done = threading.Event()

    def body():
        ready.wait(10)
        done.wait(10)
    threads = [threading.Thread(target=body) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        ready.wait(10)
        tids = os.listdir("/proc/self/task")
        bad = []
        for tid in tids:
            st = status_fields("/proc/self/task/%s/status" % tid)
            if st.get("Seccomp") != "2" or st.get("NoNewPrivs") != "1" or int(st.get("CapEff", "1"), 16):
                bad.append("task %s: Seccomp %s NoNewPrivs %s CapEff %s"
                           % (tid, st.get("Seccomp"), st.get("NoNewPrivs"), st.get("CapEff")))
    finally:
        done.set()
        for t in threads:
            t.join()
    expect(len(tids) >= 4, "only %d tasks seen" % len(tids))
    expect(not bad, "; ".join(bad))
    st = status_fields()
    return "Seccomp_filters %s; Speculation_Store_Bypass: %s" % (
        st.get("Seccomp_filters"), st.get("Speculation_Store_Bypass"))


# --------------------------------------------------------------------------
# controls: the helper tells allowed from filtered
# --------------------------------------------------------------------------

# (name, args, errno the kernel gives an allowed call with these arguments)
ALLOWED_CASES = (
    ("read", (-1, 1, 1), E.EBADF),
    ("write", (-1, 1, 1), E.EBADF),
    ("close", (-1,), E.EBADF),
    ("fstat", (-1, 1), E.EBADF),
    ("ioctl", (-1, TIOCGWINSZ, 1), E.EBADF),
    ("openat", (-100, 1, 0), E.EFAULT),
    ("execve", (1, 0, 0), E.EFAULT),
    ("uname", (1,), E.EFAULT),
    ("sysinfo", (1,), E.EFAULT),
    ("getcwd", (1, 4096), E.EFAULT),
    ("memfd_create", (1, 0), E.EFAULT),
    ("mmap", (0, 4096, 1, 2, -1, 0), E.EBADF),  # PROT_READ, MAP_PRIVATE, fd -1
    ("flock", (-1, 2), E.EBADF),
    ("splice", (-1, 0, -1, 0, 1, 0), E.EBADF),
    ("inotify_init1", (0x7fffffff,), E.EINVAL),
    ("io_setup", (0, 1), E.EFAULT),
    ("kill", (99999, 0), E.ESRCH),
    ("pidfd_open", (99999, 0), E.ESRCH),
    ("pidfd_send_signal", (-1, 0, 0, 0), E.EBADF),
    ("prlimit64", (99999, 0, 0, 0), E.ESRCH),
    ("seccomp", (0xff, 0, 0), E.EINVAL),
    ("clone", (CLONE_THREAD, 0, 0, 0, 0), E.EINVAL),
    ("socket", (socket.AF_UNIX, 0xff, 0), E.EINVAL),
)


@check("syscall helper: allowed calls fail harmlessly with the kernel's errno")
def _():
    r, e = raw(NR["getpid"])
    expect(r == os.getpid(), "raw getpid() = %d (%s)" % (r, ename(e)))
    bad = []
    for name, args, want in ALLOWED_CASES:
        try:
            expect_errno(name, args, want)
        except Fail as f:
            bad.append(str(f))
    r, e = raw(NR["personality"], 0xffffffff)
    if r != 0:
        bad.append("personality(query) = %d (%s)" % (r, ename(e)))
    expect(not bad, "; ".join(bad))


# --------------------------------------------------------------------------
# namespaces and clone
# --------------------------------------------------------------------------

@check("syscall: unshare(CLONE_NEWUSER) fails with EPERM")
def _():
    status, out = in_child(lambda: raw(NR["unshare"], CLONE_NEW["CLONE_NEWUSER"]))
    expect(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, "child %s: %s"
           % (describe_status(status), out))
    expect(out == repr((-1, E.EPERM)), "unshare returned %s, want (-1, EPERM=%d)" % (out, E.EPERM))


@check("syscall: unshare of every other namespace fails with EPERM")
def _():
    for name, flag in CLONE_NEW.items():
        if name in ("CLONE_NEWUSER", "CLONE_NEWTIME"):
            continue
        # Bit 0 is not a valid unshare flag: EINVAL if the call got through.
        expect_errno("unshare", (flag | 1,), E.EPERM)


@check("syscall: setns fails with EPERM")
def _():
    expect_errno("setns", (-1, 0), E.EPERM)
    expect_errno("setns", (-1, CLONE_NEW["CLONE_NEWUSER"]), E.EPERM)


@check("syscall: clone with each CLONE_NEW* flag fails with EPERM")
def _():
    for name, flag in CLONE_NEW.items():
        # CLONE_THREAD without CLONE_SIGHAND is EINVAL if the call got through.
        try:
            expect_errno("clone", (flag | CLONE_THREAD, 0, 0, 0, 0), E.EPERM)
        except Fail as e:
            raise Fail("%s: %s" % (name, e))


@check("syscall: clone with CLONE_NEWUSER and high bits set fails with EPERM")
def _():
    expect_errno("clone", ((1 << 32) | CLONE_NEW["CLONE_NEWUSER"] | CLONE_THREAD, 0, 0, 0, 0), E.EPERM)
    expect_errno("clone", (0xffffffff00000000 | CLONE_NEW["CLONE_NEWNS"] | CLONE_THREAD, 0, 0, 0, 0),
                 E.EPERM)


@check("syscall: clone3 fails with ENOSYS")
def _():
    expect_errno("clone3", (1, 88), E.ENOSYS)


@check("syscall: threads and subprocess still work after clone3 ENOSYS")
def _():
    raw(NR["clone3"], 1, 88)
    box = []
    t = threading.Thread(target=lambda: box.append(threading.get_native_id()))
    t.start()
    t.join(10)
    expect(box and box[0] != threading.get_native_id(), "thread did not run")
    p = subprocess.run(["true"], timeout=20)
    expect(p.returncode == 0, "true exited %d" % p.returncode)
    p = subprocess.run([sys.executable or "/usr/bin/python3", "-c", "print(6 * 7)"],
                       capture_output=True, timeout=30)
    expect(p.stdout.strip() == b"42", "python -c printed %r, stderr %r" % (p.stdout, p.stderr[-300:]))


# --------------------------------------------------------------------------
# everything that must answer EPERM (arguments invalid for the kernel)
# --------------------------------------------------------------------------

EPERM_CASES = (
    # mount family
    ("mount", (1, 1, 1, 0, 1)),
    ("mount (remount /usr rw)", (0, 0, 0, 0x20, 0)),
    ("umount2", (1, 0)),
    ("pivot_root", (1, 1)),
    ("chroot", (1,)),
    ("open_tree", (-1, 1, 0)),
    ("move_mount", (-1, 1, -1, 1, 0)),
    ("fsopen", (1, 0)),
    ("fsconfig", (-1, 0, 0, 0, 0)),
    ("fsmount", (-1, 0, 0)),
    ("fspick", (-1, 1, 0)),
    ("mount_setattr", (-1, 1, 0, 1, 0)),
    # kernel attack surface
    ("io_uring_setup", (1, 1)),
    ("io_uring_enter", (-1, 0, 0, 0, 0, 0)),
    ("io_uring_register", (-1, 0, 1, 0)),
    ("userfaultfd", (0,)),
    ("userfaultfd (UFFD_USER_MODE_ONLY)", (UFFD_USER_MODE_ONLY,)),
    ("userfaultfd (UFFD_USER_MODE_ONLY, bad flag)", (UFFD_USER_MODE_ONLY | 2,)),
    ("keyctl", (0xffff, 0, 0, 0, 0)),
    ("add_key", (1, 1, 1, 0, 0)),
    ("request_key", (1, 1, 1, 0)),
    ("perf_event_open", (1, 0, -1, -1, 0)),
    ("bpf", (0, 1, 4096)),
    ("memfd_secret", (0xffff,)),
    ("fanotify_init", (0xffffffff, 0)),
    # other processes
    ("ptrace", (0xffff, 99999, 0, 0)),
    ("ptrace (PTRACE_ATTACH pid 1)", (16, 1, 0, 0)),
    ("process_vm_readv", (1, 1, 1, 1, 1, 0)),
    ("process_vm_writev", (1, 1, 1, 1, 1, 0)),
    ("kcmp", (99999, 99999, 0, 0, 0)),
    ("pidfd_getfd", (-1, 0, 0)),
    ("process_madvise", (-1, 1, 1, 0, 0)),
    ("process_mrelease", (-1, 0)),
    ("move_pages", (99999, 0, 0, 0, 0, 0)),
    ("migrate_pages", (99999, 0, 0, 0)),
    ("mbind", (1, 4096, 0, 0, 0, 0)),
    # file handles
    ("name_to_handle_at", (-1, 1, 1, 1, 0)),
    ("open_by_handle_at", (-1, 1, 0)),
    # host administration
    ("kexec_load", (0, 0, 0, 0xffffffff)),
    ("kexec_file_load", (-1, -1, 0, 0, 0xffffffff)),
    ("init_module", (1, 0, 1)),
    ("finit_module", (-1, 1, 0)),
    ("delete_module", (1, 0)),
    ("reboot", (0, 0, 0, 0)),
    ("swapon", (1, 0)),
    ("swapoff", (1,)),
    ("syslog", (0xffff, 0, 0)),
    ("acct", (1,)),
    ("settimeofday", (1, 1)),
    ("clock_settime", (0, 1)),
    ("clock_adjtime", (0, 1)),
    ("adjtimex", (1,)),
    ("sethostname", (1, 8)),
    ("setdomainname", (1, 8)),
    ("quotactl", (0, 1, 0, 0)),
    ("quotactl_fd", (-1, 0, 0, 0)),
    ("lookup_dcookie", (0, 1, 0)),
    ("ustat", (0, 1)),
    ("vhangup", ()),
    ("sysfs", (0xff, 0, 0)),
    ("iopl", (3,)),
    ("ioperm", (0, 1, 1)),
    ("modify_ldt", (1, 1, 16)),
    ("mknod", (1, stat.S_IFCHR | 0o666, 0x101)),
    ("mknodat", (-1, 1, stat.S_IFCHR | 0o666, 0x101)),
    # personality flags (ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, MMAP_PAGE_ZERO)
    ("personality (ADDR_NO_RANDOMIZE 0x0040000)", (0x0040000,)),
    ("personality (READ_IMPLIES_EXEC 0x0400000)", (0x0400000,)),
    ("personality (MMAP_PAGE_ZERO 0x0100000)", (0x0100000,)),
    ("personality (ADDR_NO_RANDOMIZE, high bits set)", (0x100040000,)),
    # terminal injection
    ("ioctl (fd 0, TIOCSTI)", (0, TIOCSTI, 1)),
    ("ioctl (fd 0, TIOCSTI with high bits 0x100005412)", (0, 0x100005412, 1)),
    ("ioctl (fd -1, TIOCSTI)", (-1, TIOCSTI, 1)),
    ("ioctl (fd 1, TIOCSTI with high bits 0xffffffff00005412)", (1, 0xffffffff00000000 | TIOCSTI, 1)),
    ("ioctl (fd 0, TIOCLINUX)", (0, TIOCLINUX, 1)),
    ("ioctl (fd 1, TIOCLINUX with high bits)", (1, 0xffffffff00000000 | TIOCLINUX, 1)),
    ("ioctl (fd -1, TIOCLINUX with high bits 0x10000541c)", (-1, 0x100000000 | TIOCLINUX, 1)),
    # SysV and POSIX IPC
    ("shmget", (0, 4096, 0o1600)),
    ("shmat", (-1, 0, 0)),
    ("shmdt", (1,)),
    ("shmctl", (-1, 0, 0)),
    ("semget", (0, 1, 0o1600)),
    ("semop", (-1, 1, 1)),
    ("semtimedop", (-1, 1, 1, 1)),
    ("semctl", (-1, 0, 0, 0)),
    ("msgget", (0, 0o1600)),
    ("msgsnd", (-1, 1, 0, 0)),
    ("msgrcv", (-1, 1, 0, 0, 0)),
    ("msgctl", (-1, 0, 0)),
    ("mq_open", (1, 0, 0, 0)),
    ("mq_unlink", (1,)),
    ("mq_timedsend", (-1, 1, 0, 0, 0)),
    ("mq_timedreceive", (-1, 1, 0, 0, 0)),
    ("mq_notify", (-1, 1)),
    ("mq_getsetattr", (-1, 1, 1)),
)

# Syscalls the kernel never implemented on x86_64, or newer than the
# filter's libseccomp: refused either way, EPERM from the deny table or
# ENOSYS from the filter's default.
REFUSED_CASES = (
    ("create_module", (1, 0)),
    ("get_kernel_syms", (1,)),
    ("query_module", (1, 0, 1, 0, 1)),
    ("nfsservctl", (0, 1, 1)),
    ("uselib", (1,)),
    ("_sysctl", (1,)),
    ("statmount", (1, 1, 0, 0)),
    ("listmount", (1, 1, 0, 0)),
    ("lsm_set_self_attr", (0, 1, 0, 0)),
)

FD_RETURNING = {"userfaultfd", "io_uring_setup", "fsopen", "fspick", "open_tree", "fsmount",
                "memfd_secret", "fanotify_init", "perf_event_open", "bpf", "pidfd_getfd",
                "open_by_handle_at", "mq_open"}
IPC_RMID = 0
IPC_REMOVE = {  # SysV ids are not fds: remove the object instead
    "shmget": lambda i: raw(NR["shmctl"], i, IPC_RMID, 0),
    "semget": lambda i: raw(NR["semctl"], i, 0, IPC_RMID, 0),
    "msgget": lambda i: raw(NR["msgctl"], i, IPC_RMID, 0),
}


def cleanup_for(name):
    if name in FD_RETURNING:
        return os.close
    return IPC_REMOVE.get(name)


def eperm_check(name, args, want=E.EPERM):
    def fn():
        if name == "ptrace" and args[0] == 16:
            # A successful attach would stop pid 1: try it from a child,
            # whose exit detaches it again.
            status, out = in_child(lambda: raw(NR[name], *args))
            expect(out == repr((-1, E.EPERM)), "ptrace(PTRACE_ATTACH, 1) in a child: %s, %s"
                   % (describe_status(status), out))
            return
        if name == "personality":
            r, e = raw(NR[name], *args)
            if r != -1:
                raw(NR[name], 0)  # undo before anything execs
            expect(r == -1 and e == E.EPERM, "personality(%#x) = %d (%s), want EPERM"
                   % (args[0], r, ename(e)))
            return
        expect_errno(name, args, want, cleanup_for(name))
    return fn


for _desc, _args in EPERM_CASES:
    check("syscall: %s fails with EPERM" % _desc)(eperm_check(_desc.split(" ")[0], _args))

for _desc, _args in REFUSED_CASES:
    check("syscall: %s is refused (EPERM or ENOSYS)" % _desc)(eperm_check(_desc, _args, {E.EPERM, E.ENOSYS}))


@check("syscall: unknown syscall numbers (1000, 0x3fffffff, -1) fail with ENOSYS")
def _():
    for nr in (1000, 0x3fffffff, -1):
        r, e = raw(nr)
        expect(r == -1 and e == E.ENOSYS, "syscall(%#x) = %d (%s)" % (nr, r, ename(e)))


# --------------------------------------------------------------------------
# foreign ABIs: the filter kills the whole process
# --------------------------------------------------------------------------

def int80(eax, ebx=0):
    """mov eax, EAX; mov ebx, EBX; int 0x80; ret (rbx is callee-saved: push/pop)."""
    code = (b"\x53" + b"\xb8" + eax.to_bytes(4, "little") + b"\xbb" + (ebx & 0xffffffff).to_bytes(4, "little")
            + b"\xcd\x80" + b"\x5b\xc3")
    m = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    m.write(code)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
    return ctypes.CFUNCTYPE(ctypes.c_int)(addr)()


def i386_check(eax, ebx, what):
    def fn():
        if not X86_64:
            raise Skip("x86_64 only")
        status, out = in_child(lambda: int80(eax, ebx))
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSEGV:
            raise Skip("int 0x80 faulted with SIGSEGV: this kernel has no IA32 emulation")
        expect(os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSYS,
               "%s: child %s (returned %s)" % (what, describe_status(status), out))
    return fn


# i386 numbers: getpid 20, unshare 310, mount 21, socketcall 102.
for _nr, _ebx, _what in ((20, 0, "getpid"), (310, CLONE_NEW["CLONE_NEWUSER"], "unshare(CLONE_NEWUSER)"),
                         (21, 0, "mount"), (102, 1, "socketcall(SYS_SOCKET)")):
    check("syscall: i386 int 0x80 %s kills the process with SIGSYS" % _what)(i386_check(_nr, _ebx, _what))


X32 = 0x40000000


@check("syscall: x32 numbers (bit 30 set: getpid, read, unshare, clone3, socket) kill the process with SIGSYS")
def _():
    for nr, args in ((39, ()), (0, (-1, 1, 1)), (272, (CLONE_NEW["CLONE_NEWUSER"],)), (435, (1, 88)),
                     (41, (AF_VSOCK, 1, 0))):
        expect_sigsys(lambda: raw(X32 | nr, *args), "x32 syscall %d" % nr)
    # x32's own numbers (512 and up) too.
    expect_sigsys(lambda: raw(X32 | 512, 0, 0, 0), "x32 rt_sigaction (512)")


@check("syscall: an x32 call from one thread kills the whole process, not just the thread")
def _():
    def fn():
        t = threading.Thread(target=lambda: raw(X32 | 39))
        t.start()
        t.join(10)
        time.sleep(2)
        return "the process survived its thread's x32 call"
    expect_sigsys(fn, "x32 getpid from a thread")


@check("syscall: we survive the SIGSYS children (the filter kills only the offender)")
def _():
    expect(os.getpid() == raw(NR["getpid"])[0], "getpid mismatch")


# --------------------------------------------------------------------------
# terminals
# --------------------------------------------------------------------------

@check("tty: no controlling terminal and none to open (tty_nr 0, /dev/tty absent)")
def _():
    fields = read("/proc/self/stat").rsplit(")", 1)[1].split()
    expect(fields[4] == "0", "tty_nr = %s" % fields[4])
    expect_oserror(lambda: os.close(os.open("/dev/tty", os.O_RDWR)), {E.ENOENT, E.ENXIO}, "open(/dev/tty)")
    expect_oserror(lambda: os.close(os.open("/dev/ptmx", os.O_RDWR)), E.ENOENT, "open(/dev/ptmx)")
    for fd in (0, 1, 2):
        expect_oserror(lambda: os.ttyname(fd), {E.ENOTTY, E.ENODEV, E.ENOENT}, "ttyname(%d)" % fd)

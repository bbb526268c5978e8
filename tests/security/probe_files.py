# SPDX-License-Identifier: LGPL-2.1-or-later
"""THREATS.md §C, filesystem and descriptors, seen from inside one jail.

The worker's descriptors (first in the bundle: nothing of ours is open yet),
the root image and its mounts, /proc, /dev, and objects planted in the
workspace for the cleanup to meet.  The host's view (mount table after
thousands of workers, the next request's pristine image, concurrent workers)
is in daemon.sh and isolation.sh.
"""

import ctypes
import hashlib
import os
import socket
import stat
import tempfile

from jail_probe import *  # noqa: F401,F403 (the bundler drops this line)

# --------------------------------------------------------------------------
# descriptors
# --------------------------------------------------------------------------


def open_fds():
    listed = {int(n) for n in os.listdir("/proc/self/fd")}
    still = set()
    for fd in listed:
        try:
            os.fstat(fd)
            still.add(fd)
        except OSError:
            pass  # the directory fd listdir itself used
    return still, listed


@check("fds: exactly 0, 1, 2 and the worker socket 3 are open")
def _():
    still, listed = open_fds()
    expect(still == {0, 1, 2, 3}, "open fds %s (listed %s)" % (sorted(still), sorted(listed)))
    link = os.readlink("/proc/self/fd/3")
    expect(link.startswith("socket:"), "fd 3 is %r, not a socket" % link)
    return "fd targets: " + ", ".join(
        "%d=%s" % (fd, os.readlink("/proc/self/fd/%d" % fd)) for fd in sorted(still))


@check("fds: no descriptor is a directory or O_PATH")
def _():
    bad = []
    for n in os.listdir("/proc/self/fd"):
        fd = int(n)
        try:
            st = os.fstat(fd)
            info = read("/proc/self/fdinfo/%d" % fd)
        except OSError:
            continue
        flags = int(status_fields_text(info).get("flags", "0"), 8)
        if stat.S_ISDIR(st.st_mode):
            bad.append("%d is a directory" % fd)
        if flags & O_PATH:
            bad.append("%d is O_PATH" % fd)
    expect(not bad, "; ".join(bad))


@check("fds: stdin is a memfd or pipe, stdout and stderr are pipes, none is a tty")
def _():
    kinds = {fd: os.readlink("/proc/self/fd/%d" % fd) for fd in (0, 1, 2)}
    expect(kinds[0].startswith(("/memfd:", "pipe:")) or kinds[0] == "/dev/null", "fd 0 is %r" % kinds[0])
    for fd in (1, 2):
        expect(kinds[fd].startswith("pipe:"), "fd %d is %r" % (fd, kinds[fd]))
    for fd in (0, 1, 2, 3):
        expect(not os.isatty(fd), "fd %d is a terminal" % fd)


@check("fds: /proc/self/fd/N tricks lead nowhere (the socket cannot be reopened, "
       "pid 1's fds, cwd and root are closed to us)")
def _():
    expect_oserror(lambda: os.close(os.open("/proc/self/fd/3", os.O_RDWR)), E.ENXIO,
                   "reopening the worker socket through /proc/self/fd/3")
    expect_oserror(lambda: os.close(os.open("/dev/fd/3", os.O_RDONLY)), E.ENXIO,
                   "reopening the worker socket through /dev/fd/3")
    for pid in [1] + other_jail_pids():
        for what in ("fd", "cwd", "root", "fdinfo"):
            p = "/proc/%d/%s" % (pid, what)
            expect_oserror(lambda: os.listdir(p), {E.EACCES, E.EPERM, E.ENOENT}, "listdir(%s)" % p)
        expect_oserror(lambda: os.readlink("/proc/%d/fd/0" % pid), {E.EACCES, E.EPERM, E.ENOENT},
                       "readlink(/proc/%d/fd/0)" % pid)
    expect(os.readlink("/proc/self/cwd") == "/workspace", "cwd link is %r" % os.readlink("/proc/self/cwd"))


# --------------------------------------------------------------------------
# the root image
# --------------------------------------------------------------------------

ROOT_ALLOWED = {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "dev", "proc",
                "tmp", "workspace"}
ETC_MOUNTS = {"ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime",
              "matplotlibrc", "mime.types", "python3", "python3.11", "fonts"}
DEV_MOUNTS = {"null", "zero", "full", "random", "urandom", "shm"}
INSTALL_PREFIX = "/tmp/vivarium-check."
OS_PY = "/usr/lib/python3.11/os.py"


@check("fs: / holds only the jail's image")
def _():
    names = set(os.listdir("/"))
    extra = names - ROOT_ALLOWED
    expect(not extra, "unexpected entries in /: %s" % sorted(extra))
    for n in ("home", "root", "sys", "boot", "var", "srv", "opt", "work", "mnt", "media", "run"):
        expect(not os.path.lexists("/" + n), "/%s exists" % n)
    return "/: " + " ".join(sorted(names))


@check("fs: no shadow, gshadow or sudoers in /etc")
def _():
    for p in ("/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/sudoers.d", "/etc/ssh"):
        expect(not os.path.lexists(p), "%s exists" % p)


@check("fs: /etc/passwd names the sandbox user")
def _():
    expect("sandbox:x:1000" in read("/etc/passwd"), "/etc/passwd: %r" % read("/etc/passwd"))


@check("fs: the stdlib is read-only (no write to os.py, no planted .pyc, no utime)")
def _():
    before = hashlib.sha256(read(OS_PY, "rb")).hexdigest()
    expect_oserror(lambda: open(OS_PY, "r+b").close(), {E.EROFS, E.EACCES}, "opening os.py for writing")
    expect_oserror(lambda: open("/usr/lib/python3.11/__pycache__/vivarium_planted.cpython-311.pyc",
                                "xb").close(), {E.EROFS, E.EACCES, E.ENOENT}, "planting a .pyc")
    expect_oserror(lambda: os.utime(OS_PY), {E.EROFS, E.EACCES, E.EPERM}, "touching os.py")
    expect_oserror(lambda: os.chmod(OS_PY, 0o777), {E.EROFS, E.EACCES, E.EPERM}, "chmod os.py")
    expect_oserror(lambda: os.rename(OS_PY, OS_PY + ".moved"), {E.EROFS, E.EACCES, E.EPERM},
                   "renaming os.py")
    expect(hashlib.sha256(read(OS_PY, "rb")).hexdigest() == before, "os.py changed")
    return "sha256(os.py) = " + before


@check("fs: creating files in /, /etc, /usr and /dev fails")
def _():
    made = []
    try:
        for d in ("/", "/etc", "/usr", "/dev"):
            p = os.path.join(d, "vivarium-planted")
            try:
                os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
                made.append(p)
            except OSError as e:
                expect(e.errno in (E.EROFS, E.EACCES), "creating %s: %s" % (p, e))
            try:
                os.mkdir(p + ".d")
                made.append(p + ".d")
            except OSError as e:
                expect(e.errno in (E.EROFS, E.EACCES), "mkdir %s.d: %s" % (p, e))
        expect(not made, "created %s" % ", ".join(made))
    finally:
        for p in made:  # keep the other checks independent of this one
            try:
                os.rmdir(p) if p.endswith(".d") else os.unlink(p)
            except OSError:
                pass


@check("fs: /tmp and /workspace are writable, cwd is /workspace")
def _():
    expect(os.getcwd() == "/workspace", "cwd is %r" % os.getcwd())
    for d in ("/tmp", "/workspace"):
        with tempfile.NamedTemporaryFile(dir=d) as f:
            f.write(b"x" * 100)
            f.flush()
            expect(os.path.getsize(f.name) == 100, "short write in %s" % d)


@check("fs: hostname is vivarium")
def _():
    expect(socket.gethostname() == "vivarium", "gethostname() = %r" % socket.gethostname())
    expect(os.uname().nodename == "vivarium", "uname nodename = %r" % os.uname().nodename)


def mount_point_allowed(p):
    if p in ("/", "/usr", "/dev", "/proc", "/tmp", "/workspace"):
        return True
    if p in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        return True  # hosts without merged /usr bind these read-only
    head, _, tail = p.rpartition("/")
    if head == "/etc":
        return tail in ETC_MOUNTS
    if head == "/dev":
        return tail in DEV_MOUNTS
    return p.startswith(INSTALL_PREFIX) and ".." not in p.split("/")


@check("fs: mountinfo shows only the intended mount points")
def _():
    ms = mounts()
    bad = [m["line"] for m in ms if not mount_point_allowed(m["point"])]
    expect(not bad, "unexpected mounts:\n" + "\n".join(bad))
    return "%d mounts" % len(ms)


@check("fs: mountinfo has no trace of the old root")
def _():
    bad = [m["line"] for m in ms_filter(lambda m: any(
        w in m[k] for k in ("root", "point", "source") for w in ("oldroot", "newroot")))]
    expect(not bad, "\n".join(bad))


@check("fs: /usr is mounted ro, nosuid, nodev")
def _():
    usr = ms_filter(lambda m: m["point"] == "/usr")
    expect(usr, "no /usr mount")
    for m in usr:
        missing = {"ro", "nosuid", "nodev"} - m["opts"]
        expect(not missing, "/usr lacks %s: %s" % (sorted(missing), m["line"]))


@check("fs: every mount is nosuid")
def _():
    bad = ms_filter(lambda m: "nosuid" not in m["opts"])
    expect(not bad, "\n".join(m["line"] for m in bad))


@check("fs: every mount of a host filesystem (and /) is read-only")
def _():
    bad = ms_filter(lambda m: "ro" not in m["opts"] and
                    (m["point"] == "/" or m["fstype"] not in ("tmpfs", "proc", "devtmpfs")))
    expect(not bad, "\n".join(m["line"] for m in bad))


@check("fs: only /dev device binds are mounted without nodev")
def _():
    bad = ms_filter(lambda m: "nodev" not in m["opts"] and not (
        m["fstype"] == "devtmpfs" and m["point"] in ["/dev/" + d for d in DEV_MOUNTS]))
    expect(not bad, "\n".join(m["line"] for m in bad))


@check("fs: no sysfs, cgroup, debugfs or other kernel filesystem is mounted")
def _():
    bad = ms_filter(lambda m: m["fstype"] in (
        "sysfs", "cgroup", "cgroup2", "debugfs", "tracefs", "securityfs", "bpf", "fusectl",
        "configfs", "pstore", "efivarfs", "binfmt_misc", "hugetlbfs", "mqueue", "devpts",
        "overlay", "nsfs", "fuse", "autofs"))
    expect(not bad, "\n".join(m["line"] for m in bad))


@check("fs: the read-only image cannot be remounted read-write (mount is EPERM)")
def _():
    MS_REMOUNT, MS_BIND = 0x20, 0x1000
    for point in (b"/", b"/usr", b"/dev"):
        buf = ctypes.create_string_buffer(point)
        r, e = raw(NR["mount"], 0, ctypes.addressof(buf), 0, MS_REMOUNT | MS_BIND, 0)
        expect(r == -1 and e == E.EPERM, "mount(NULL, %s, MS_REMOUNT|MS_BIND) = %d (%s)"
               % (point.decode(), r, ename(e)))
    usr = ms_filter(lambda m: m["point"] == "/usr")
    expect(usr and all("ro" in m["opts"] for m in usr), "/usr is no longer read-only")


@check("fs: /proc/self/root is / and /proc/1/root leads nowhere new")
def _():
    expect(os.readlink("/proc/self/root") == "/", "/proc/self/root -> %r" % os.readlink("/proc/self/root"))
    expect(sorted(os.listdir("/proc/self/root/../../..")) == sorted(os.listdir("/")),
           "/proc/self/root/../../.. is not /")
    try:
        names = os.listdir("/proc/1/root")
    except OSError as e:
        return "listdir(/proc/1/root): %s" % e
    expect(sorted(names) == sorted(os.listdir("/")), "/proc/1/root lists %s" % sorted(names))


@check("fs: /proc/self/exe and /proc/1/exe cannot be opened for writing")
def _():
    for p in ("/proc/self/exe", "/proc/1/exe"):
        expect_oserror(lambda: os.close(os.open(p, os.O_WRONLY)),
                       {E.ETXTBSY, E.EROFS, E.EACCES, E.EPERM}, "open(%s, O_WRONLY)" % p)


@check("fs: pid 1's memory and environment (its init shares the zygote's memory) cannot be read")
def _():
    for p in ("/proc/1/mem", "/proc/1/environ"):
        try:
            with open(p, "rb") as f:
                data = f.read(64)
        except OSError as e:
            expect(e.errno in (E.EACCES, E.EPERM), "open(%s): %s" % (p, e))
            continue
        expect(not data, "%s is readable (%d bytes)" % (p, len(data)))


# --------------------------------------------------------------------------
# objects planted for the cleanup (THREATS.md §C: links, FIFOs, sockets,
# device nodes, 10 000-deep trees, odd names); they stay behind on purpose,
# and the runners check that the request still ends promptly and cleanly
# --------------------------------------------------------------------------

@check("planted: symlinks out of the workspace resolve inside the jail")
def _():
    links = {"to-root": "/", "to-passwd": "/etc/passwd", "to-proc1-root": "/proc/1/root",
             "up": "../../../../../../etc", "loop-a": "loop-b", "loop-b": "loop-a",
             "to-self": "/proc/self/root/workspace"}
    for name, target in links.items():
        os.symlink(target, "/workspace/" + name)
    expect("sandbox:x:1000" in read("/workspace/to-passwd"), "to-passwd reads the host's passwd")
    expect(sorted(os.listdir("/workspace/to-root")) == sorted(os.listdir("/")), "to-root is not the jail's /")
    expect(os.path.realpath("/workspace/up") == "/etc", "up resolves to %r" % os.path.realpath("/workspace/up"))
    expect_oserror(lambda: open("/workspace/loop-a").close(), E.ELOOP, "opening a symlink loop")


@check("planted: hard links to image or host files fail (EXDEV), FIFOs and device nodes are refused")
def _():
    for src in (OS_PY, "/etc/passwd", "/dev/null", "/proc/self/status"):
        expect_oserror(lambda: os.link(src, "/workspace/hard-" + os.path.basename(src)),
                       {E.EXDEV, E.EPERM, E.EACCES}, "link(%s)" % src)
    # mkfifo and mknod go through mknodat, which the filter refuses outright.
    expect_oserror(lambda: os.mkfifo("/workspace/fifo"), E.EPERM, "mkfifo")
    expect_oserror(lambda: os.mknod("/workspace/null", stat.S_IFCHR | 0o666, os.makedev(1, 3)), E.EPERM,
                   "mknod of /dev/null's numbers")


@check("planted: a listening unix socket and odd names in the workspace")
def _():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind("/workspace/listening.sock")
    s.listen(1)  # left open: the request ends with it
    globals()["_planted_socket"] = s
    odd = [b"new\nline", b"\xff\xfe not utf-8", b"-rf", b" ", b"x" * 255, b"..."  + b"." * 10,
           b"tab\there", b"\x1b[31mred"]
    for name in odd:
        with open(b"/workspace/" + name, "wb") as f:
            f.write(b"odd")
    expect_oserror(lambda: open(b"/workspace/" + b"y" * 256, "wb").close(), E.ENAMETOOLONG, "a 256-byte name")
    got = set(os.listdir(b"/workspace"))
    expect(set(odd) <= got, "missing: %r" % (set(odd) - got))


@check("planted: a 10 000-deep directory tree in the workspace")
def _():
    top = os.open("/workspace", os.O_RDONLY | os.O_DIRECTORY)
    fd = top
    try:
        for _ in range(10000):
            os.mkdir("d", dir_fd=fd)
            nfd = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            if fd != top:
                os.close(fd)
            fd = nfd
        os.symlink("/", "escape", dir_fd=fd)
        with open(os.open("file", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "wb") as f:
            f.write(b"deep")
    finally:
        if fd != top:
            os.close(fd)
        os.close(top)


# --------------------------------------------------------------------------
# /proc and /sys
# --------------------------------------------------------------------------

@check("proc: only pid entries, self and thread-self (subset=pid)")
def _():
    other = sorted(n for n in os.listdir("/proc") if not n.isdigit() and n not in ("self", "thread-self"))
    expect(not other, "/proc also has: %s" % other)


@check("proc: no kcore, kallsyms, sysrq-trigger, sys, keys, kmsg, timer_list, core_pattern")
def _():
    present = [n for n in ("kcore", "kallsyms", "sysrq-trigger", "sys", "keys", "kmsg", "timer_list",
                           "config.gz", "modules", "sched_debug", "sys/kernel/core_pattern")
               if os.path.lexists("/proc/" + n)]
    expect(not present, "present in /proc: %s" % present)


@check("proc: no /sys and no cgroup filesystem (no release_agent)")
def _():
    expect(not os.path.lexists("/sys"), "/sys exists")
    cg = ms_filter(lambda m: m["fstype"].startswith("cgroup"))
    expect(not cg, "\n".join(m["line"] for m in cg))


# --------------------------------------------------------------------------
# /dev
# --------------------------------------------------------------------------

DEV_EXPECTED = {"null", "zero", "full", "random", "urandom", "shm", "fd", "stdin", "stdout", "stderr"}


@check("dev: /dev holds exactly null zero full random urandom shm fd stdin stdout stderr")
def _():
    names = set(os.listdir("/dev"))
    expect(names == DEV_EXPECTED, "extra %s, missing %s"
           % (sorted(names - DEV_EXPECTED), sorted(DEV_EXPECTED - names)))


@check("dev: no tty, console, ptmx, vsock, kvm, fuse, mem, kmsg")
def _():
    present = [n for n in ("tty", "console", "ptmx", "pts", "vsock", "vhost-vsock", "kvm", "fuse", "mem",
                           "kmem", "port", "kmsg", "net", "vda", "sda", "loop0", "loop-control",
                           "userfaultfd", "mqueue", "hugepages")
               if os.path.lexists("/dev/" + n)]
    expect(not present, "present in /dev: %s" % present)


@check("dev: mknod of a character device fails with EPERM")
def _():
    for p in ("/tmp/vivarium-mem", "/workspace/vivarium-mem"):
        expect_oserror(lambda: os.mknod(p, stat.S_IFCHR | 0o666, os.makedev(1, 1)), E.EPERM,
                       "mknod %s (c 1 1)" % p)
    expect(not os.path.lexists("/tmp/vivarium-mem"), "a device node appeared")


@check("dev: the devices are character devices and behave")
def _():
    for n in ("null", "zero", "full", "random", "urandom"):
        expect(stat.S_ISCHR(os.stat("/dev/" + n).st_mode), "/dev/%s is not a char device" % n)
    with open("/dev/null", "wb") as f:
        f.write(b"x" * 1000)
    with open("/dev/urandom", "rb") as f:
        expect(len(f.read(16)) == 16, "short read from /dev/urandom")
    with open("/dev/zero", "rb") as f:
        expect(f.read(8) == b"\0" * 8, "/dev/zero is not zero")
    with open("/dev/full", "wb", buffering=0) as f:
        expect_oserror(lambda: f.write(b"x"), E.ENOSPC, "write to /dev/full")

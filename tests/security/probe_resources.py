# SPDX-License-Identifier: LGPL-2.1-or-later
"""THREATS.md §E, resources: the limits one run can hit and survive.

Descriptors (EMFILE), disk (the scratch filesystems are bounded tmpfs that
answer ENOSPC; RLIMIT_FSIZE answers EFBIG), and the rlimits that back the
deadline and the process count.  Deadlines, memory kills, fork bombs and
output floods end the run, so they are judged by the runners (daemon.sh,
tests/integration/run.sh, tests/protocol) from the outside.
"""

import os
import resource
import signal

from jail_probe import *  # noqa: F401,F403 (the bundler drops this line)

MiB = 1 << 20


@check("limits: the worker's rlimits are finite (NPROC, NOFILE, FSIZE, CPU) and cores are off")
def _():
    got = {n: resource.getrlimit(getattr(resource, n))
           for n in ("RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_FSIZE", "RLIMIT_CPU", "RLIMIT_CORE")}
    inf = resource.RLIM_INFINITY
    bad = {n: v for n, v in got.items() if n != "RLIMIT_CORE" and (v[0] == inf or v[1] == inf)}
    expect(not bad, "unlimited: %s" % bad)
    expect(got["RLIMIT_CORE"] == (0, 0), "RLIMIT_CORE = %r" % (got["RLIMIT_CORE"],))
    expect(got["RLIMIT_NPROC"][1] <= 4096, "RLIMIT_NPROC = %r" % (got["RLIMIT_NPROC"],))
    return ", ".join("%s %s" % (n[7:], v) for n, v in got.items())


@check("limits: opening descriptors ends in EMFILE, and closing them recovers")
def _():
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    fds = []
    err = None
    try:
        while len(fds) < soft + 10:
            fds.append(os.open("/dev/null", os.O_RDONLY))
    except OSError as e:
        err = e
    finally:
        for fd in fds:
            os.close(fd)
    expect(err is not None and err.errno == E.EMFILE, "after %d opens: %r" % (len(fds), err))
    expect(len(fds) < soft, "opened %d with a limit of %d" % (len(fds), soft))
    os.close(os.open("/dev/null", os.O_RDONLY))
    return "EMFILE after %d descriptors (RLIMIT_NOFILE %d)" % (len(fds), soft)


@check("disk: /tmp, /workspace and /dev/shm are tmpfs bounded in size and inodes")
def _():
    bad = []
    for point in ("/tmp", "/workspace", "/dev/shm"):
        top = [m for m in mounts() if m["point"] == point][-1:]  # the one on top
        if not top:
            bad.append("%s is not mounted" % point)
            continue
        m = top[0]
        sizes = [o for o in m["super"] if o.startswith(("size=", "nr_inodes="))]
        if m["fstype"] != "tmpfs" or len(sizes) != 2 or "size=0" in sizes or "nr_inodes=0" in sizes:
            bad.append(m["line"])
    expect(not bad, "\n".join(bad))


def fill(path, chunk=MiB):
    """Write to path until an error; (bytes written, the OSError)."""
    n = 0
    buf = b"\xa5" * chunk
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while True:
            try:
                n += os.write(fd, buf)
            except OSError as e:
                return n, e
    finally:
        os.close(fd)
        os.unlink(path)


@check("disk: filling /tmp fails with ENOSPC at its quota, and the space comes back")
def _():
    st = os.statvfs("/tmp")
    quota = st.f_blocks * st.f_frsize
    n, err = fill("/tmp/vivarium-fill")
    expect(err.errno in (E.ENOSPC, E.EDQUOT), "after %d bytes: %s" % (n, err))
    expect(n <= quota, "wrote %d bytes into a %d-byte filesystem" % (n, quota))
    st2 = os.statvfs("/tmp")
    expect(st2.f_bfree >= st.f_bfree, "free blocks %d after, %d before" % (st2.f_bfree, st.f_bfree))
    return "ENOSPC after %d MiB of %d MiB" % (n // MiB, quota // MiB)


@check("disk: running /dev/shm out of inodes fails with ENOSPC")
def _():
    made = []
    err = None
    try:
        for i in range(100000):
            p = "/dev/shm/i%d" % i
            os.close(os.open(p, os.O_WRONLY | os.O_CREAT, 0o600))
            made.append(p)
    except OSError as e:
        err = e
    finally:
        for p in made:
            os.unlink(p)
    expect(err is not None and err.errno == E.ENOSPC, "after %d files: %r" % (len(made), err))
    return "ENOSPC after %d files" % len(made)


@check("disk: writing past RLIMIT_FSIZE in the workspace fails with EFBIG")
def _():
    def attempt():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        fd = os.open("/workspace/vivarium-big", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        out = []
        try:
            for what, fn in (("pwrite at the limit", lambda: os.pwrite(fd, b"x", limit)),
                             ("ftruncate past the limit", lambda: os.ftruncate(fd, limit + 1))):
                try:
                    fn()
                    out.append("%s succeeded" % what)
                except OSError as e:
                    if e.errno != E.EFBIG:
                        out.append("%s: %s" % (what, e))
        finally:
            os.close(fd)
            os.unlink("/workspace/vivarium-big")
        return out
    status, out = in_child(attempt)
    expect(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, "child %s: %s" % (describe_status(status), out))
    expect(out == "[]", out)

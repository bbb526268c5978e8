# SPDX-License-Identifier: LGPL-2.1-or-later
"""The request code host_daemon.py sends to a daemon's workers.

Each constant is the code of one request (Python run inside a worker; only
the standard library, and numpy when the image has it).  Placeholders are
``@NAME@``, filled by ``fill``.  Requests that might harm the host if the
isolation were broken only *try* the dangerous step in a way that changes
nothing even when it succeeds (open for writing without writing, utime to
the current times, a rename onto itself).
"""

IMAGE_FILES = ("/usr/lib/python3.11/os.py", "/usr/lib/python3.11/json/__init__.py",
               "/usr/lib/python3.11/__pycache__/os.cpython-311.pyc")


def fill(src, **kw):
    for k, v in kw.items():
        src = src.replace("@%s@" % k.upper(), str(v))
    return src


OWNED = r'''
import ctypes, os, time
ctypes.CDLL(None).prctl(15, b"@COMM@", 0, 0, 0)
for p in ("/workspace/owned", "/tmp/owned"):
    with open(p, "w") as f:
        f.write("x")
print("ready", flush=True)
time.sleep(25)
'''

# Everything a request could leave behind for the next one to find.
FINGERPRINT = r'''
import atexit, builtins, ctypes, gc, os, resource, signal, sys, threading, warnings
def _fingerprint():
    d = {}
    d["len"] = (len is builtins.len, getattr(builtins.len, "__module__", None), len([1, 2]))
    d["print"] = type(builtins.print).__name__
    d["builtins_extra"] = sorted(k for k in vars(builtins) if k.startswith("viv"))
    j = sys.modules.get("json")
    d["json"] = j is None or (getattr(j, "__file__", None) or "").endswith("json/__init__.py")
    d["modules_fake"] = sorted(k for k in sys.modules if k.startswith("viv"))
    d["atexit"] = atexit._ncallbacks()
    d["threads"] = (threading.active_count(), len(os.listdir("/proc/self/task")))
    d["environ"] = sorted(k for k in os.environ if k.startswith("VIV"))
    d["path"] = [p for p in sys.path if "evil" in p]
    d["umask"] = os.umask(0o022)
    os.umask(d["umask"])
    d["cwd"] = os.getcwd()
    d["recursionlimit"] = sys.getrecursionlimit()
    d["gc"] = gc.isenabled()
    d["trace"] = (sys.gettrace() is None, sys.getprofile() is None)
    d["signals"] = [str(signal.getsignal(s)) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM)]
    d["warnings"] = len(warnings.filters)
    d["stdout"] = type(sys.stdout).__name__
    d["files"] = {p: sorted(os.listdir(p)) for p in ("/tmp", "/workspace", "/dev/shm")}
    d["rlimits"] = {n: resource.getrlimit(getattr(resource, n)) for n in (
        "RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_STACK", "RLIMIT_CORE")}
    d["nice"] = os.getpriority(os.PRIO_PROCESS, 0)
    d["sched"] = os.sched_getscheduler(0)
    d["affinity"] = sorted(os.sched_getaffinity(0))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    d["ioprio"] = libc.syscall(252, 1, 0)  # ioprio_get(IOPRIO_WHO_PROCESS, self)
    return d
_fingerprint()
'''

HOSTILE_STATE = r'''
import atexit, builtins, gc, os, random, signal, sys, threading, types, warnings
builtins.len = lambda x: 42
builtins.viv_evil = True
sys.modules["json"] = types.ModuleType("json")
sys.modules["viv_fake"] = types.ModuleType("viv_fake")
atexit.register(lambda: open("/tmp/atexit-ran", "w").write("x"))
threading.Thread(target=lambda: [None for _ in iter(int, 1)], daemon=True).start()
os.environ["VIV_BLEED"] = "1"
sys.path.insert(0, "/tmp/evil")
for p in ("/tmp", "/workspace", "/dev/shm"):
    with open(p + "/bleed", "w") as f:
        f.write("x")
os.umask(0)
os.chdir("/tmp")
sys.setrecursionlimit(400)
gc.disable()
signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGALRM, signal.SIG_IGN)
warnings.simplefilter("ignore")
random.seed(42)
builtins.print = lambda *a, **k: None
"hostile"
'''

RANDOMNESS = r'''
import multiprocessing, os, random, tempfile, uuid
fd, name = tempfile.mkstemp()
os.close(fd)
d = {"random": random.random(), "uuid4": uuid.uuid4().hex, "urandom": os.urandom(16).hex(),
     "tempfile": os.path.basename(name), "authkey": multiprocessing.current_process().authkey.hex(),
     "hash": hash("vivarium")}
try:
    import numpy
    d["numpy"] = float(numpy.random.random())
except ImportError:
    d["numpy"] = None
d
'''

HOSTILE_IMAGE = r'''
import ctypes, os
bad = []
def attempt(what, fn):
    try:
        fn()
        bad.append(what)
    except OSError:
        pass
OS_PY = "/usr/lib/python3.11/os.py"
PYC = "/usr/lib/python3.11/__pycache__/os.cpython-311.pyc"
st = os.stat(OS_PY)
attempt("open os.py for writing", lambda: os.close(os.open(OS_PY, os.O_WRONLY)))
attempt("open os.pyc for writing", lambda: os.close(os.open(PYC, os.O_WRONLY)))
attempt("plant a new .pyc", lambda: os.close(os.open("/usr/lib/python3.11/__pycache__/viv_planted.cpython-311.pyc",
                                                     os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)))
attempt("mkdir in the image", lambda: os.mkdir("/usr/lib/python3.11/viv_planted"))
attempt("symlink in the image", lambda: os.symlink("/tmp/evil.py", "/usr/lib/python3.11/viv_evil.py"))
attempt("rename os.py onto itself", lambda: os.rename(OS_PY, OS_PY))
attempt("utime os.py", lambda: os.utime(OS_PY, ns=(st.st_atime_ns, st.st_mtime_ns)))
attempt("chmod os.py", lambda: os.chmod(OS_PY, st.st_mode & 0o7777))
libc = ctypes.CDLL(None, use_errno=True)
for point in (b"/usr", b"/"):
    if libc.mount(None, point, None, 0x20 | 0x1000, None) == 0:  # MS_REMOUNT | MS_BIND, not MS_RDONLY
        bad.append("remount %s read-write" % point.decode())
bad
'''

IMAGE_VIEW = r'''
import hashlib, os
d = {p: hashlib.sha256(open(p, "rb").read()).hexdigest() for p in @FILES@}
d["pycache"] = sorted(os.listdir("/usr/lib/python3.11/__pycache__"))
d
'''.replace("@FILES@", repr(IMAGE_FILES))

PLANT = r'''
import os, socket
for d in ("/workspace", "/tmp", "/dev/shm"):
    for name, target in (("root", "/"), ("passwd", "/etc/passwd"), ("proc1", "/proc/1/root"),
                         ("up", "../../../../.."), ("loop", "loop")):
        os.symlink(target, "%s/link-%s" % (d, name))
    for name in (b"new\nline", b"\xff\xfe", b"-rf", b" ", b"x" * 255):
        open(d.encode() + b"/" + name, "wb").close()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(d + "/listening.sock")
    s.listen(1)
    globals().setdefault("socks", []).append(s)
top = os.open("/workspace", os.O_RDONLY | os.O_DIRECTORY)
fd = top
for _ in range(10000):
    os.mkdir("d", dir_fd=fd)
    nfd = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    if fd != top:
        os.close(fd)
    fd = nfd
os.symlink("/", "escape", dir_fd=fd)
"planted"
'''

CHANNEL_A = r'''
import ctypes, fcntl, os, socket, struct, time
ctypes.CDLL(None).prctl(15, b"@COMM@", 0, 0, 0)
for p in ("/dev/shm/chan", "/tmp/chan", "/workspace/chan"):
    with open(p, "w") as f:
        f.write("x")
a = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
a.bind(b"\0viv-@TOKEN@")
a.listen(4)
b = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
b.bind("/tmp/chan.sock")
b.listen(4)
f = open("/usr/lib/python3.11/os.py", "rb")
fcntl.flock(f, fcntl.LOCK_EX)
g = open("/usr/lib/python3.11/json/__init__.py", "rb")
fcntl.fcntl(g, fcntl.F_SETLK, struct.pack("hhqqi", fcntl.F_RDLCK, 0, 0, 0, 0))
print("ready", flush=True)
time.sleep(30)
'''

CHANNEL_B = r'''
import ctypes, errno, fcntl, os, socket, struct
def name(e):
    return errno.errorcode.get(e.errno, str(e.errno))
r = {"files": [os.path.exists(p) for p in ("/dev/shm/chan", "/tmp/chan", "/workspace/chan")]}
for key, addr in (("abstract", b"\0viv-@TOKEN@"), ("path_socket", "/tmp/chan.sock")):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(addr)
        r[key] = "connected"
    except OSError as e:
        r[key] = name(e)
    s.close()
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
r["ipc"] = []
for nr, args in ((29, (0, 4096, 0o1600)), (64, (0, 1, 0o1600)), (68, (0, 0o1600)),
                 (240, (ctypes.c_char_p(b"/viv"), 0o100, 0o600, 0))):
    ok = libc.syscall(ctypes.c_long(nr), *args)
    r["ipc"].append("created" if ok >= 0 else errno.errorcode.get(ctypes.get_errno()))
try:
    socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
    r["inet"] = "created"
except OSError as e:
    r["inet"] = name(e)
pids = [int(p) for p in os.listdir("/proc") if p.isdigit()
        and open("/proc/%s/comm" % p).read().strip() == "@COMM@"]
try:
    os.kill(pids[0], 0)
    r["signal"] = "sent"
except OSError as e:
    r["signal"] = name(e)
except IndexError:
    r["signal"] = "not found"
f = open("/usr/lib/python3.11/os.py", "rb")
try:
    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    r["flock"] = "free"
except OSError as e:
    r["flock"] = name(e)
g = open("/usr/lib/python3.11/json/__init__.py", "rb")
res = fcntl.fcntl(g, fcntl.F_GETLK, struct.pack("hhqqi", fcntl.F_WRLCK, 0, 0, 0, 0))
r["posix_lock"] = "free" if struct.unpack("hhqqi", res)[0] == fcntl.F_UNLCK else "locked"
r
'''

DEADLINES = {
    "time.sleep(1e6)": "import time\ntime.sleep(1e6)",
    "select on nothing": "import select\nselect.select([], [], [])",
    "threading.Event().wait()": "import threading\nthreading.Event().wait()",
    "a busy loop ignoring SIGXCPU, SIGTERM, SIGINT and SIGHUP":
        "import signal\nfor s in (signal.SIGXCPU, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):\n"
        "    signal.signal(s, signal.SIG_IGN)\nwhile True:\n    pass",
    "regex backtracking inside C": "import re\nre.match(r'(a+)+$', 'a' * 64 + 'b')",
    "a worker that stops itself (SIGSTOP)": "import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)",
}

MEMORY = {
    "one huge allocation (4 GiB)": "bytearray(4 << 30)",
    "gradual growth": "chunks = []\nwhile True:\n    chunks.append(bytearray(16 << 20))",
    "mmap and touch (2 GiB)": "import mmap\nm = mmap.mmap(-1, 2 << 30)\nfor i in range(0, len(m), 4096):\n"
                              "    m[i] = 1",
    "tmpfs fill of /dev/shm, /tmp and /workspace (quotas below the memory limit: ENOSPC)":
        "import errno\nout = []\nfor d in ('/dev/shm', '/tmp', '/workspace'):\n"
        "    try:\n        with open(d + '/fill', 'wb') as f:\n            while True:\n"
        "                f.write(b'x' * (1 << 20))\n"
        "    except OSError as e:\n        out.append(errno.errorcode[e.errno])\nout",
}

EMFILE = r'''
import errno, os
fds = []
try:
    while True:
        fds.append(os.open("/dev/null", os.O_RDONLY))
except OSError as e:
    r = errno.errorcode[e.errno]
r
'''

FLOODS = {
    "a 50 MiB stdout flood": "import sys\n_ = sys.stdout.write('x' * (50 << 20))",
    "a 50 MiB binary flood without newlines": "import os\nchunk = bytes(b for b in range(256) if b != 10) * 4096\n"
                                              "for _ in range(50):\n    os.write(1, chunk)",
    "a 50 MiB stderr flood": "import sys\n_ = sys.stderr.write('y' * (50 << 20))",
}

KILL_MINUS_ONE = r'''
import os, signal, time
c = os.fork()
if c == 0:
    time.sleep(60)
    os._exit(0)
os.kill(-1, signal.SIGKILL)
_, st = os.waitpid(c, 0)
os.WTERMSIG(st) if os.WIFSIGNALED(st) else -1
'''

DAEMONISE = r'''
import ctypes, os, signal
r, w = os.pipe()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        ctypes.CDLL(None).prctl(15, b"@COMM@", 0, 0, 0)
        os.write(w, str(os.getpid()).encode())
        os.close(w)
        while True:
            pass
    os._exit(0)
os.close(w)
pid = int(os.read(r, 32))
os.wait()
pid
'''

# Tries to change the scheduling of every process it can name, by pid, user and
# process group (a success would change the zygote's or other workers'); run late.
TAMPER = r'''
import ctypes, os, resource
me = os.getpid()
out = {}
libc = ctypes.CDLL(None, use_errno=True)
def ioprio_idle_by_user():
    if libc.syscall(251, 3, os.getuid(), 3 << 13) != 0:  # ioprio_set(IOPRIO_WHO_USER, uid, IDLE)
        raise OSError(ctypes.get_errno(), "ioprio_set")
for what, fn in (("nice 5 by user", lambda: os.setpriority(os.PRIO_USER, os.getuid(), 5)),
                 ("nice 5 by process group", lambda: os.setpriority(os.PRIO_PGRP, 0, 5)),
                 ("ioprio idle by user", ioprio_idle_by_user)):
    try:
        fn()
        out[what] = "done"
    except OSError:
        pass
for p in [int(x) for x in os.listdir("/proc") if x.isdigit() and int(x) != me]:
    done = []
    for what, fn in (
            ("nofile 256", lambda: resource.prlimit(p, resource.RLIMIT_NOFILE, (256, 256))),
            ("nice 5", lambda: os.setpriority(os.PRIO_PROCESS, p, 5)),
            ("SCHED_BATCH", lambda: os.sched_setscheduler(p, os.SCHED_BATCH, os.sched_param(0))),
            ("one CPU", lambda: os.sched_setaffinity(p, {min(os.sched_getaffinity(p))}))):
        try:
            fn()
            done.append(what)
        except OSError:
            pass
    out[p] = done
out
'''

FORK_BOMB = r'''
import ctypes, os, time
ctypes.CDLL(None).prctl(15, b"@COMM@", 0, 0, 0)
while True:
    try:
        if os.fork() == 0:
            time.sleep(1e6)
    except OSError as e:
        print("limited", type(e).__name__, flush=True)
        break
time.sleep(1e6)
'''

THREAD_BOMB = r'''
import threading, time
n = 0
try:
    while True:
        threading.Thread(target=time.sleep, args=(1e6,), daemon=True).start()
        n += 1
except RuntimeError:
    print("limited", n)
import os
len([p for p in os.listdir("/proc") if p.isdigit()])
'''


def frame(payload):
    return len(payload).to_bytes(4, "big") + payload


# Code that abuses its own socket to the dispatcher (fd 3); the frames are
# byte literals, since the jail has no msgpack module.
HOSTILE_WORKER = {
    "a 4 GiB length header, then silence": "import os, time\nos.write(3, b'\\xff\\xff\\xff\\xff')\ntime.sleep(5)",
    "a truncated frame (256 announced, 10 sent), then silence":
        "import os, time\nos.write(3, b'\\x00\\x00\\x01\\x00' + b'\\x82' * 10)\ntime.sleep(5)",
    "invalid UTF-8 in a result frame": "import os\nos.write(3, %r)" % frame(b"\x81\xa4type\xa2\xff\xfe"),
    "100 000-deep nesting": "import os\nos.write(3, %r)" % frame(b"\x81\xa1a" + b"\x91" * 100000 + b"\xc0"),
    "a frame one byte every 0.4 s": "import os, time\nfor b in %r:\n    os.write(3, bytes([b]))\n    time.sleep(0.4)"
                                    % frame(b"\x81\xa4type\xa6result"),
    "250 descriptors (SCM_RIGHTS) with garbage":
        "import array, socket\ns = socket.socket(fileno=3)\n"
        "s.sendmsg([b'\\xff\\xff\\xff\\xff' + b'x' * 100], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, "
        "array.array('i', [0, 1, 2] * 83 + [0]))])\nimport time\ntime.sleep(5)",
}

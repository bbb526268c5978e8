# SPDX-License-Identifier: LGPL-2.1-or-later
"""Host-side checks of one-shot `vivarium run` jails, for isolation.sh.

    host_oneshot.py MODE TOKEN SECRET -- VIVARIUM...

VIVARIUM... is how to start the installed `vivarium` (for the unprivileged
mode: through runuser as the test user).  MODE is "root" or "unprivileged";
TOKEN (at most 10 characters) names the processes the requests create, so
the host can find them; SECRET is put in the CLI's environment and must
reach no jail.  Prints ok/not ok lines (see host_lib.py).

  * a daemonised grandchild (fork, setsid, SIGHUP ignored, spinning) is gone
    when the run ends (THREATS.md §D);
  * a fork bomb of sleepers hits the process limit, is killed at its deadline
    and leaves no process on the host (§E);
  * regex backtracking inside C and a worker that stops itself are killed at
    the deadline (§E, §D);
  * files the code creates are owned on the host by its unprivileged uid
    (§B); the CLI's environment reaches neither the zygote nor the worker,
    in their environment or their memory (§F); the speculative store bypass
    state of a worker (§A).
"""

import os
import pwd
import subprocess
import sys
import threading
import time

from host_lib import (by_comm, diag, ok, owner_check, proc_table, scan_for_secret, short, ssb_check,  # noqa: F401
                      wait_for)
import host_lib

DAEMONISE = r'''
import ctypes, os, signal
r, w = os.pipe()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        ctypes.CDLL(None).prctl(15, b"%s", 0, 0, 0)
        os.write(w, b"%%d" %% os.getpid())
        os.close(w)
        while True:
            pass
    os._exit(0)
os.close(w)
pid = int(os.read(r, 32))
os.wait()
print("grandchild", pid)
'''

FORK_BOMB = r'''
import ctypes, os, time
ctypes.CDLL(None).prctl(15, b"%s", 0, 0, 0)
while True:
    try:
        if os.fork() == 0:
            time.sleep(1e6)
    except OSError as e:
        print("limited", type(e).__name__, flush=True)
        break
time.sleep(1e6)
'''

OWNED = r'''
import ctypes, os, time
ctypes.CDLL(None).prctl(15, b"%s", 0, 0, 0)
for p in ("/workspace/owned", "/tmp/owned"):
    with open(p, "w") as f:
        f.write("x")
print(sorted(os.environ.items()), flush=True)
time.sleep(3)
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


def run(cmd, args, timeout=60):
    t0 = time.monotonic()
    p = subprocess.run(cmd + ["run"] + args, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace"), \
        time.monotonic() - t0


def check_grandchild(cmd, token):
    name = token + "-gc"
    rc, out, err, _ = run(cmd, ["-c", DAEMONISE % name])
    ok(rc == 0 and "grandchild" in out, "processes: the code daemonises a grandchild (fork, setsid, "
       "SIGHUP ignored, spinning)", "rc %d out %r err %r" % (rc, out, err[-500:]))
    left = wait_for(lambda: not by_comm(name), 1.0, 0.02)
    ok(left, "processes: the daemonised grandchild is gone within 1 s of the run's end", by_comm(name))
    for p in by_comm(name):
        os.kill(p, 9)


def check_fork_bomb(cmd, token):
    name = token + "-fb"
    rc, out, err, dt = run(cmd, ["--timeout", "2", "-c", FORK_BOMB % name])
    ok(rc == 124 and "limited BlockingIOError" in out and dt < 12,
       "limits: a fork bomb of sleepers hits the process limit (EAGAIN) and is killed at its deadline "
       "(exit 124, %.1f s)" % dt, "rc %d out %r err %r" % (rc, out, err[-500:]))
    left = wait_for(lambda: not by_comm(name), 1.0, 0.02)
    ok(left, "limits: none of the fork bomb's processes remains on the host", short(by_comm(name)))
    for p in by_comm(name):
        os.kill(p, 9)


def check_deadlines(cmd):
    """Each case in its own jail, all at once."""
    results = {}

    def one(what, code):
        results[what] = run(cmd, ["--timeout", "1", "-c", code])
    ts = [threading.Thread(target=one, args=item) for item in DEADLINES.items()]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    for what in DEADLINES:
        rc, out, err, dt = results.get(what, (None, "", "no result", 0))
        ok(rc == 124 and dt < 10, "deadline: %s is killed at the deadline (exit 124 within 10 s)" % what,
           "rc %s after %.1f s, out %r err %r" % (rc, dt, out, err[-300:]))


def check_owned_and_secret(cmd, mode, token, secret):
    name = token + "-o"
    p = subprocess.Popen(cmd + ["run", "--timeout", "30", "-c", OWNED % name], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        pids = wait_for(lambda: by_comm(name), 15, 0.02)
        if not ok(bool(pids), "the owned-files run starts (its worker is found by name on the host)"):
            return
        worker = pids[0]
        time.sleep(0.2)  # the files are written right after the rename
        want = None
        if mode == "unprivileged":
            want = pwd.getpwnam(os.environ.get("VIV_TEST_USER", "vivarium-test")).pw_uid \
                if os.getuid() == 0 else os.getuid()
        owner_check(worker, ["/workspace/owned", "/tmp/owned"], want)
        table = proc_table()
        zygote = table.get(worker, (0,))[0]
        cli = [q for q, v in table.items() if v[2] == "vivarium" and secret.encode() in
               (host_lib.read_environ(q) if isinstance(host_lib.read_environ(q), bytes) else b"")]
        ok(bool(cli), "secret: control: the vivarium CLI's own environment holds the secret")
        ok(table.get(zygote, (0, 0, ""))[2] == "vivarium-zygote", "the worker's parent is the zygote (pid %d)"
           % zygote)
        scan_for_secret("zygote", zygote, secret.encode())
        scan_for_secret("worker", worker, secret.encode())
        ssb_check(worker, os.getpid())
    finally:
        out, err = p.communicate(timeout=30)
    ok(p.returncode == 0 and out.startswith(b"[") and secret.encode() not in out + err,
       "secret: the code does not find the secret in its environment",
       "rc %d out %r err %r" % (p.returncode, out, err[-300:]))
    diag("the code's environment: " + out.strip().decode(errors="replace"))


def main(argv):
    mode, token, secret = argv[1:4]
    cmd = argv[5:]
    if "env" in cmd:
        i = cmd.index("env") + 1
        cmd = cmd[:i] + ["VIVARIUM_TEST_SECRET=" + secret] + cmd[i:]
    else:
        cmd = ["env", "VIVARIUM_TEST_SECRET=" + secret] + cmd
    check_grandchild(cmd, token)
    check_fork_bomb(cmd, token)
    check_deadlines(cmd)
    check_owned_and_secret(cmd, mode, token, secret)
    return 1 if host_lib.failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Exception:  # noqa: BLE001 - a broken helper is a failure
        import traceback
        ok(False, "host_oneshot.py ran to its end", traceback.format_exc())
        sys.exit(1)

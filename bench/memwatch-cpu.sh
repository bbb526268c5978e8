#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The memory watchdog's CPU cost in the dispatcher (docs/PERFORMANCE.md): a
# daemon as the unprivileged user USER without a cgroup, one 4 s run of one
# busy process, then one of 17; the dispatcher's utime + stime over each
# run's wall time. A measurement, never a test. As root, from a tree built
# with `make tests/install.env`:
#   bench/memwatch-cpu.sh DIR USER
# DIR: a directory USER may create the socket in.
set -u
. "$(dirname "$0")/../tests/install.env"
D=$1 U=$2 B="$VIV_DESTDIR$VIV_BINDIR/vivarium"
E=(env VIVARIUM_CGROUP=none VIVARIUM_LIBEXECDIR="$VIV_DESTDIR$VIV_PKGLIBEXECDIR"
    VIVARIUM_PKGDATADIR="$VIV_DESTDIR$VIV_PKGDATADIR")
runuser -u "$U" -- "${E[@]}" "$B" serve --socket "$D/s.sock" >/dev/null 2>"$D/log" &
ru=$!
for _ in $(seq 200); do runuser -u "$U" -- "$B" status --socket "$D/s.sock" >/dev/null 2>&1 && break; sleep 0.1; done
dp=$(pgrep -P "$ru")
runuser -u "$U" -- "$B" run --socket "$D/s.sock" -c 1 >/dev/null
cpu() { awk '{print $14 + $15}' "/proc/$dp/stat"; }
one='import time
t = time.time()
while time.time() - t < 4: pass'
many='import os, time
for i in range(16):
    if os.fork() == 0:
        t = time.time()
        while time.time() - t < 4: pass
        os._exit(0)
t = time.time()
while time.time() - t < 4: pass
for i in range(16): os.wait()'
hz=$(getconf CLK_TCK)
for name in one many; do
    code=${!name}
    c0=$(cpu) t0=$(date +%s%N)
    runuser -u "$U" -- "$B" run --socket "$D/s.sock" -c "$code" >/dev/null
    c1=$(cpu) t1=$(date +%s%N)
    awk -v n="$name" -v c=$((c1 - c0)) -v hz="$hz" -v w=$(((t1 - t0) / 1000000)) \
        'BEGIN { printf "%s: dispatcher %d ms CPU over %d ms wall: %.2f %%\n", n, c * 1000 / hz, w, c * 1000 / hz / w * 100 }'
done
kill "$dp"
wait

# SPDX-License-Identifier: LGPL-2.1-or-later
# pool/: the spawner, environments, workers and jobs (outside the jail), and
# the vivarium-zygote program with its Python runner (inside). Depends on
# jail/, src/proto and src/basic.
noinst_LIBRARIES += libpool.a
libpool_a_SOURCES = \
	pool/pool.h \
	pool/pool-limits.h pool/pool-internal.h pool/wire.h \
	pool/config.c \
	pool/pool.c \
	pool/env.c \
	pool/worker.c \
	pool/job.c \
	pool/job-memory.c \
	pool/memwatch.c pool/memwatch-parse.c pool/memwatch.h \
	pool/wire.c \
	pool/spawner.c pool/spawner.h \
	pool/spawner-client.c \
	pool/spawner-msg.c \
	pool/spawner-source.c \
	pool/spawner-cgroup.c \
	pool/keeper.c pool/keeper.h \
	pool/oneshot.c \
	pool/user-scope.c pool/user-scope.h
libpool_a_CFLAGS = $(AM_CFLAGS) $(MSGPACK_CFLAGS) $(SYSTEMD_CFLAGS)

pkglibexec_PROGRAMS += vivarium-zygote
vivarium_zygote_SOURCES = \
	pool/zygote/main.c pool/zygote/zygote.h \
	pool/zygote/worker.c \
	pool/zygote/pidns.c pool/zygote/pidns.h \
	pool/zygote/python.c pool/zygote/python.h \
	pool/zygote/memlimit.c pool/zygote/memlimit.h
nodist_vivarium_zygote_SOURCES = jail/seccomp-prebuilt.c
# VIV_ZYGOTE_CFLAGS are VIV_CFLAGS, except under --enable-sanitizers: UBSan
# but no ASan, and under --enable-coverage: no gcov counters (configure.ac says
# why). The libraries it links are then built again the same way, since
# instrumented objects need the ASan runtime, or a build tree to write to.
vivarium_zygote_CFLAGS = $(VIV_ZYGOTE_CFLAGS) $(WARN_CFLAGS) $(PYTHON_CFLAGS) $(MSGPACK_CFLAGS)
# ZYGOTE_LINK_LDFLAGS: -no-pie -Wl,-E when libpython is linked statically
# (configure.ac, docs/adr/0037-static-libpython-in-the-zygote.md); after the
# -pie of VIV_ZYGOTE_LDFLAGS, so that the last word wins.
vivarium_zygote_LDFLAGS = $(VIV_ZYGOTE_LDFLAGS) $(ZYGOTE_LINK_LDFLAGS)
if ZYGOTE_OWN_LIBS
noinst_LIBRARIES += libzygote-deps.a
libzygote_deps_a_SOURCES = $(libjail_a_SOURCES) $(libproto_a_SOURCES) $(libbasic_a_SOURCES)
libzygote_deps_a_CFLAGS = $(VIV_ZYGOTE_CFLAGS) $(WARN_CFLAGS) \
	$(SECCOMP_CFLAGS) $(LIBCAP_CFLAGS) $(MSGPACK_CFLAGS) $(SYSTEMD_CFLAGS)
zygote_libs = libzygote-deps.a
else
zygote_libs = libjail.a libproto.a libbasic.a
endif
vivarium_zygote_LDADD = $(zygote_libs) \
	$(ZYGOTE_PYTHON_LIBS) $(MSGPACK_LIBS) $(SECCOMP_LIBS) $(LIBCAP_LIBS)

dist_pkgdata_DATA += pool/zygote/vivarium_runner.py

# The runner's bytecode, installed beside it: the jail's filesystem is
# read-only, so without it every zygote, and every one-shot worker, which
# starts its own interpreter, would compile the runner from source (about
# 10 ms). A checked-hash .pyc is used only while it matches the source's
# hash, so an edited runner is never run stale. Built in the tree too, for
# an uninstalled ./vivarium.
RUNNER_PYC_COMPILE = $(PYTHON_EMBED_EXE) -c 'import importlib.util as u, py_compile as p, sys; \
	p.compile(sys.argv[1], cfile=u.cache_from_source(sys.argv[2]), doraise=True, \
	invalidation_mode=p.PycInvalidationMode.CHECKED_HASH)'
all-local: runner-pyc
runner-pyc:
	@if test -f pool/zygote/vivarium_runner.py; then \
	  $(RUNNER_PYC_COMPILE) pool/zygote/vivarium_runner.py pool/zygote/vivarium_runner.py; fi
install-data-hook: install-runner-pyc
install-runner-pyc:
	$(RUNNER_PYC_COMPILE) $(srcdir)/pool/zygote/vivarium_runner.py \
	  "$(DESTDIR)$(pkgdatadir)/vivarium_runner.py"
uninstall-hook: uninstall-runner-pyc
uninstall-runner-pyc:
	rm -rf "$(DESTDIR)$(pkgdatadir)/__pycache__"
clean-local: clean-runner-pyc
clean-runner-pyc:
	-rm -rf pool/zygote/__pycache__
.PHONY: runner-pyc install-runner-pyc uninstall-runner-pyc clean-runner-pyc

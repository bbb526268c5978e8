# SPDX-License-Identifier: LGPL-2.1-or-later
# src/cli: vivarium(1). Uses src/proto and the pool's embedding API only.
noinst_LIBRARIES += libcli.a
libcli_a_SOURCES = src/cli/cli.h src/cli/run-args.c src/cli/json.c
libcli_a_CFLAGS = $(AM_CFLAGS)

bin_PROGRAMS += vivarium
vivarium_SOURCES = src/cli/main.c src/cli/run.c
vivarium_CFLAGS = $(AM_CFLAGS)
vivarium_LDADD = libcli.a libpool.a libjail.a libproto.a libbasic.a \
	$(SECCOMP_LIBS) $(LIBCAP_LIBS) $(MSGPACK_LIBS) $(SYSTEMD_LIBS)

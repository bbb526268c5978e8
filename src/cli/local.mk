# SPDX-License-Identifier: LGPL-2.1-or-later
# src/cli: vivarium(1). Uses src/proto and the dispatcher's embedding API
# (src/daemon/server.h), never jail/ or pool/ internals.
noinst_LIBRARIES += libcli.a
libcli_a_SOURCES = \
	src/cli/cli.h \
	src/cli/run-args.c \
	src/cli/json.c \
	src/cli/serve.c \
	src/cli/serve-systemd.h \
	src/cli/serve-systemd.c \
	src/cli/status.c \
	src/cli/socket-path.c \
	src/cli/socket-trust.c
libcli_a_CFLAGS = $(AM_CFLAGS) $(MSGPACK_CFLAGS) $(SYSTEMD_CFLAGS)

bin_PROGRAMS += vivarium
vivarium_SOURCES = src/cli/main.c src/cli/run.c src/cli/mcp.c
vivarium_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/src/mcp
vivarium_CFLAGS = $(AM_CFLAGS) $(MSGPACK_CFLAGS) $(SYSTEMD_CFLAGS)
vivarium_LDADD = libcli.a libmcp.a libdaemon.a libpool.a libjail.a libproto.a libbasic.a \
	$(SECCOMP_LIBS) $(LIBCAP_LIBS) $(MSGPACK_LIBS) $(SYSTEMD_LIBS) $(INIH_LIBS) $(JANSSON_LIBS)

# SPDX-License-Identifier: LGPL-2.1-or-later
# src/daemon: the dispatcher, its configuration and the service embedding API.
noinst_LIBRARIES += libdaemon.a
libdaemon_a_SOURCES = \
	src/daemon/config.c \
	src/daemon/daemon-config.h \
	src/daemon/server.c \
	src/daemon/server.h \
	src/daemon/privileges.c \
	src/daemon/privileges.h \
	src/daemon/daemon-internal.h \
	src/daemon/connection.c \
	src/daemon/methods.c \
	src/daemon/run-limits.c \
	src/daemon/run-limits.h
libdaemon_a_CFLAGS = $(AM_CFLAGS) $(INIH_CFLAGS) $(LIBCAP_CFLAGS) $(MSGPACK_CFLAGS) $(SYSTEMD_CFLAGS)

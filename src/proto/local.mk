# SPDX-License-Identifier: LGPL-2.1-or-later
# src/proto: frame codec, msgpack validation, typed access. Depends on src/basic.
noinst_LIBRARIES += libproto.a
libproto_a_SOURCES = \
	src/proto/frame.c src/proto/frame.h \
	src/proto/validate.c src/proto/validate.h \
	src/proto/msg.c src/proto/msg.h \
	src/proto/run.c src/proto/run.h \
	src/proto/client.c src/proto/client.h
libproto_a_CFLAGS = $(AM_CFLAGS) $(MSGPACK_CFLAGS) $(SYSTEMD_CFLAGS)

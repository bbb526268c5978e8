# SPDX-License-Identifier: LGPL-2.1-or-later
bin_PROGRAMS += vivarium
vivarium_SOURCES = src/cli/main.c
vivarium_LDADD = libjail.a libproto.a libbasic.a $(SECCOMP_LIBS) $(LIBCAP_LIBS) $(MSGPACK_LIBS) $(SYSTEMD_LIBS)

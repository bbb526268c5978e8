# SPDX-License-Identifier: LGPL-2.1-or-later
# jail/: build and enter a jail. Depends on src/basic only.
noinst_LIBRARIES += libjail.a
libjail_a_SOURCES = \
	jail/seccomp.c jail/seccomp.h
libjail_a_CFLAGS = $(AM_CFLAGS) $(SECCOMP_CFLAGS) $(LIBCAP_CFLAGS)

# SPDX-License-Identifier: LGPL-2.1-or-later
# src/basic: utilities used everywhere. Depends on nothing of ours.
noinst_LIBRARIES += libbasic.a
libbasic_a_SOURCES = \
	src/basic/macro.h src/basic/list.h \
	src/basic/log.c src/basic/log.h \
	src/basic/fd-util.c src/basic/fd-util.h \
	src/basic/parse-util.c src/basic/parse-util.h \
	src/basic/process-util.c src/basic/process-util.h \
	src/basic/time-util.c src/basic/time-util.h \
	src/basic/coverage.h
libbasic_a_CFLAGS = $(AM_CFLAGS)
libbasic_a_SOURCES += src/basic/capbuf.c src/basic/capbuf.h
libbasic_a_SOURCES += src/basic/text-util.c src/basic/text-util.h

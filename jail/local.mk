# SPDX-License-Identifier: LGPL-2.1-or-later
# jail/: build and enter a jail. Depends on src/basic only.
noinst_LIBRARIES += libjail.a
libjail_a_SOURCES = \
	jail/jail.h jail/spec.c \
	jail/idmap.c jail/idmap.h \
	jail/mount-plan.c jail/mount-apply.c jail/mount-plan.h \
	jail/spawn.c \
	jail/caps.c jail/caps.h \
	jail/net.c jail/net.h \
	jail/cgroup.c jail/cgroup-kill.c jail/cgroup-delegate.c jail/cgroup.h jail/cgroup-internal.h \
	jail/lockdown.c jail/lockdown.h \
	jail/landlock.c jail/landlock.h \
	jail/seccomp.c jail/seccomp-filter.h
libjail_a_CFLAGS = $(AM_CFLAGS) $(SECCOMP_CFLAGS) $(LIBCAP_CFLAGS)

# A worker's filter compiled at build time (jail/seccomp-gen.c says why).
noinst_PROGRAMS += jail/seccomp-gen
jail_seccomp_gen_SOURCES = jail/seccomp-gen.c
jail_seccomp_gen_CFLAGS = $(AM_CFLAGS) $(SECCOMP_CFLAGS)
jail_seccomp_gen_LDADD = libjail.a libbasic.a $(SECCOMP_LIBS) $(LIBCAP_LIBS)
jail/seccomp-prebuilt.c: jail/seccomp-gen$(EXEEXT)
	$(AM_V_GEN)$(MKDIR_P) jail && ./jail/seccomp-gen$(EXEEXT) jail_seccomp_worker_prebuilt > $@.tmp && mv $@.tmp $@
CLEANFILES += jail/seccomp-prebuilt.c

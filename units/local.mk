# SPDX-License-Identifier: LGPL-2.1-or-later
# systemd units for the system and the user instance (vivarium-serve(8),
# SYSTEMD), made from units/*/*.in with the install paths, and the
# sysusers.d(5) entry for the service user. Where they go is configure's
# --with-systemdsystemunitdir, --with-systemduserunitdir, --with-sysusersdir.
units_in = units/system/vivarium.socket.in units/system/vivarium.service.in \
	units/user/vivarium.socket.in units/user/vivarium.service.in
EXTRA_DIST += $(units_in) units/sysusers.conf
units_built = $(units_in:.in=)
CLEANFILES += $(units_built)
noinst_DATA = $(units_built)

$(units_built): %: %.in Makefile
	$(AM_V_GEN)$(MKDIR_P) $(@D) && \
	sed -e 's|@bindir[@]|$(bindir)|g' -e 's|@sysconfdir[@]|$(sysconfdir)|g' $(srcdir)/$@.in >$@.tmp && \
	mv $@.tmp $@

if INSTALL_SYSTEM_UNITS
systemunitdir = $(systemdsystemunitdir)
systemunit_DATA = units/system/vivarium.socket units/system/vivarium.service
endif
if INSTALL_USER_UNITS
userunitdir = $(systemduserunitdir)
userunit_DATA = units/user/vivarium.socket units/user/vivarium.service
endif
if INSTALL_SYSUSERS
install-data-local: install-sysusers
uninstall-local: uninstall-sysusers
endif
install-sysusers:
	$(MKDIR_P) '$(DESTDIR)$(sysusersdir)'
	$(INSTALL_DATA) $(srcdir)/units/sysusers.conf '$(DESTDIR)$(sysusersdir)/vivarium.conf'
uninstall-sysusers:
	rm -f '$(DESTDIR)$(sysusersdir)/vivarium.conf'
.PHONY: install-sysusers uninstall-sysusers

# distcheck installs below its own prefix, never into the machine's systemd directories.
AM_DISTCHECK_CONFIGURE_FLAGS = \
	--with-systemdsystemunitdir='$$(prefix)/lib/systemd/system' \
	--with-systemduserunitdir='$$(prefix)/lib/systemd/user' \
	--with-sysusersdir='$$(prefix)/lib/sysusers.d'

# SPDX-License-Identifier: LGPL-2.1-or-later
# The hostile catalogue of design/THREATS.md through the test install (see
# tests/security/README): isolation.sh through one-shot `vivarium run` jails,
# daemon.sh through `vivarium serve`, each as root and as the unprivileged
# test user. The probes run inside the jails as one bundled program
# (common.sh); the host_*.py helpers check from the outside.
TESTS += tests/security/isolation.sh tests/security/daemon.sh
EXTRA_DIST += tests/security/README tests/security/common.sh \
	tests/security/isolation.sh tests/security/daemon.sh \
	tests/security/jail_probe.py tests/security/probe_files.py \
	tests/security/probe_processes.py tests/security/probe_sockets.py \
	tests/security/probe_identity.py tests/security/probe_syscalls.py \
	tests/security/probe_resources.py tests/security/host_lib.py \
	tests/security/host_oneshot.py tests/security/host_daemon.py \
	tests/security/host_daemon_code.py

# SPDX-License-Identifier: LGPL-2.1-or-later
# The systemd units and socket activation (vivarium-serve(8), SYSTEMD):
# activation.sh hands `vivarium serve` its socket and a notify socket the way
# systemd does (activate.py); verify.sh runs `systemd-analyze verify` on units/.
TESTS += tests/systemd/activation.sh tests/systemd/verify.sh
EXTRA_DIST += tests/systemd/activation.sh tests/systemd/activate.py tests/systemd/verify.sh

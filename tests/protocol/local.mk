# SPDX-License-Identifier: LGPL-2.1-or-later
# The daemon's RPC through the test install: protocol.sh starts two daemons,
# checks the CLI against them and runs test_protocol.py (with the example
# client of examples/python) against them, as TAP.
TESTS += tests/protocol/protocol.sh
EXTRA_DIST += tests/protocol/protocol.sh tests/protocol/test_protocol.py \
	examples/python/vivarium_client.py examples/python/run.py examples/python/README.md
# load.sh: 20 000 requests, kill -9 of workers, zygote, spawner and daemon
# mid-load, and hostile workers, through tests/protocol/load_faults.py.
TESTS += tests/protocol/load.sh
EXTRA_DIST += tests/protocol/load.sh tests/protocol/load_faults.py

# SPDX-License-Identifier: LGPL-2.1-or-later
# The MCP face (vivarium-mcp(1)) through the test install.
# raw.sh: JSON lines without Node (tests/mcp/test_mcp_protocol.py and
# tests/mcp/test_mcp_execute.py, sharing tests/mcp/mcp_wire.py), as TAP.
TESTS += tests/mcp/raw.sh
EXTRA_DIST += tests/mcp/raw.sh tests/mcp/mcp_wire.py tests/mcp/test_mcp_protocol.py \
	tests/mcp/test_mcp_execute.py
# clients.sh: the official clients from npm (pinned in tests/mcp/clients/
# package-lock.json, installed by `npm ci` into the build tree on first use):
# @modelcontextprotocol/sdk 1.x and @modelcontextprotocol/client 2.x pinned to
# 2026-07-28 and in auto negotiation.
TESTS += tests/mcp/clients.sh
EXTRA_DIST += tests/mcp/clients.sh tests/mcp/clients/package.json \
	tests/mcp/clients/package-lock.json tests/mcp/clients/e2e.mjs
# What clients.sh installed (and, out of tree, copied) into the build tree.
distclean-local: distclean-mcp-clients
distclean-mcp-clients:
	-rm -rf tests/mcp/clients/node_modules
	-test "$(srcdir)" = . || rm -f tests/mcp/clients/e2e.mjs tests/mcp/clients/package.json \
		tests/mcp/clients/package-lock.json
.PHONY: distclean-mcp-clients

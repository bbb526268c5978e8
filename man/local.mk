# SPDX-License-Identifier: LGPL-2.1-or-later
dist_man_MANS += man/vivarium.1

# Lint every manual page with mandoc; also run by `make check` via man/lint.sh.
man-lint:
	@st=0; for f in $(dist_man_MANS); do \
		mandoc -Tlint -W warning $(srcdir)/$$f || st=1; \
	done; exit $$st
.PHONY: man-lint

TESTS += man/lint.sh
EXTRA_DIST += man/lint.sh

# vivarium.conf(5) and the example file it describes.
dist_man_MANS += man/vivarium.conf.5
EXTRA_DIST += examples/vivarium.conf

dist_man_MANS += man/vivarium-serve.8 man/vivarium-protocol.7

# vivarium-mcp(1) and the MCP host configurations of examples/mcp.
dist_man_MANS += man/vivarium-mcp.1
EXTRA_DIST += examples/mcp/README.md examples/mcp/mcp-servers.json \
	examples/mcp/vscode-mcp.json examples/mcp/raw_session.py

# vivarium-security(7): the threat model and the guarantees per mode.
dist_man_MANS += man/vivarium-security.7

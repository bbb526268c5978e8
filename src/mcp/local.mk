# SPDX-License-Identifier: LGPL-2.1-or-later
# src/mcp: the MCP face (vivarium-mcp(1)). Uses src/proto and src/basic only;
# the only code that links a JSON library (jansson).
noinst_LIBRARIES += libmcp.a
libmcp_a_SOURCES = \
	src/mcp/mcp.h \
	src/mcp/mcp-internal.h \
	src/mcp/jsonrpc.c src/mcp/jsonrpc.h \
	src/mcp/era.c \
	src/mcp/server.c src/mcp/server-internal.h \
	src/mcp/methods.c \
	src/mcp/tools.c \
	src/mcp/execute.c \
	src/mcp/result.c \
	src/mcp/health.c
libmcp_a_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(MSGPACK_CFLAGS) $(SYSTEMD_CFLAGS)

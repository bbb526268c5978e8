# SPDX-License-Identifier: LGPL-2.1-or-later
# libFuzzer targets for src/proto (see tests/fuzz/README). Every build links
# each target with replay.c into <target>-replay, and `make check` replays the
# checked-in corpus through it (TAP). The .sh wrappers exist because a test
# without an extension would run through Criterion's LOG_COMPILER; .sh tests
# use the TAP driver and run as they are. With --enable-fuzzing (clang) the
# real libFuzzer binaries are built too, and `make fuzz` runs them.
fuzz_targets = fuzz-frame fuzz-validate fuzz-jsonrpc
fuzz_corpus = $(top_srcdir)/tests/fuzz/corpus
# The proto sources go into the libFuzzer binaries directly rather than
# through libproto.a, so that they carry the coverage instrumentation.
fuzz_proto_sources = src/proto/frame.c src/proto/validate.c src/proto/msg.c
fuzz_replay_cflags = $(AM_CFLAGS) $(MSGPACK_CFLAGS)
fuzz_replay_ldadd = libproto.a libbasic.a $(MSGPACK_LIBS)
fuzz_replay_cppflags = $(AM_CPPFLAGS) -DFUZZ_SRCDIR=\"$(abs_top_srcdir)\"

check_PROGRAMS += tests/fuzz/fuzz-frame-replay tests/fuzz/fuzz-validate-replay
tests_fuzz_fuzz_frame_replay_SOURCES = tests/fuzz/fuzz-frame.c tests/fuzz/replay.c
tests_fuzz_fuzz_frame_replay_CPPFLAGS = $(fuzz_replay_cppflags) -DFUZZ_TARGET=\"fuzz-frame\"
tests_fuzz_fuzz_frame_replay_CFLAGS = $(fuzz_replay_cflags)
tests_fuzz_fuzz_frame_replay_LDADD = $(fuzz_replay_ldadd)
tests_fuzz_fuzz_validate_replay_SOURCES = tests/fuzz/fuzz-validate.c tests/fuzz/replay.c
tests_fuzz_fuzz_validate_replay_CPPFLAGS = $(fuzz_replay_cppflags) -DFUZZ_TARGET=\"fuzz-validate\"
tests_fuzz_fuzz_validate_replay_CFLAGS = $(fuzz_replay_cflags)
tests_fuzz_fuzz_validate_replay_LDADD = $(fuzz_replay_ldadd)

# fuzz-jsonrpc: the MCP face's decoder and dispatch (src/mcp) behind the line reader.
check_PROGRAMS += tests/fuzz/fuzz-jsonrpc-replay
tests_fuzz_fuzz_jsonrpc_replay_SOURCES = tests/fuzz/fuzz-jsonrpc.c tests/fuzz/replay.c
tests_fuzz_fuzz_jsonrpc_replay_CPPFLAGS = $(fuzz_replay_cppflags) -I$(top_srcdir)/src/mcp \
	-DFUZZ_TARGET=\"fuzz-jsonrpc\"
tests_fuzz_fuzz_jsonrpc_replay_CFLAGS = $(fuzz_replay_cflags) $(JANSSON_CFLAGS) $(SYSTEMD_CFLAGS)
tests_fuzz_fuzz_jsonrpc_replay_LDADD = libmcp.a $(fuzz_replay_ldadd) $(JANSSON_LIBS) $(SYSTEMD_LIBS)

TESTS += tests/fuzz/replay-fuzz-frame.sh tests/fuzz/replay-fuzz-validate.sh tests/fuzz/replay-fuzz-jsonrpc.sh
EXTRA_DIST += \
	tests/fuzz/README tests/fuzz/make-corpus.py \
	tests/fuzz/replay-fuzz-frame.sh tests/fuzz/replay-fuzz-validate.sh \
	tests/fuzz/replay-fuzz-jsonrpc.sh tests/fuzz/fuzz-jsonrpc.c \
	tests/fuzz/corpus

FUZZ_SECONDS = 60
# Seconds one input may take; longer is a finding (a decoder that hangs).
FUZZ_TIMEOUT = 25
if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz-frame tests/fuzz/fuzz-validate tests/fuzz/fuzz-jsonrpc
fuzz_cflags = $(AM_CFLAGS) $(MSGPACK_CFLAGS) -fsanitize=fuzzer -fno-sanitize-recover=all
fuzz_ldflags = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_frame_SOURCES = tests/fuzz/fuzz-frame.c $(fuzz_proto_sources)
tests_fuzz_fuzz_frame_CFLAGS = $(fuzz_cflags)
tests_fuzz_fuzz_frame_LDFLAGS = $(fuzz_ldflags)
tests_fuzz_fuzz_frame_LDADD = $(MSGPACK_LIBS)
tests_fuzz_fuzz_validate_SOURCES = tests/fuzz/fuzz-validate.c $(fuzz_proto_sources)
tests_fuzz_fuzz_validate_CFLAGS = $(fuzz_cflags)
tests_fuzz_fuzz_validate_LDFLAGS = $(fuzz_ldflags)
tests_fuzz_fuzz_validate_LDADD = $(MSGPACK_LIBS)
fuzz_mcp_sources = src/mcp/jsonrpc.c src/mcp/era.c src/mcp/server.c src/mcp/methods.c src/mcp/tools.c \
	src/mcp/execute.c src/mcp/result.c src/mcp/health.c src/proto/client.c src/proto/run.c
tests_fuzz_fuzz_jsonrpc_SOURCES = tests/fuzz/fuzz-jsonrpc.c $(fuzz_mcp_sources) $(fuzz_proto_sources)
tests_fuzz_fuzz_jsonrpc_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/src/mcp
tests_fuzz_fuzz_jsonrpc_CFLAGS = $(fuzz_cflags) $(JANSSON_CFLAGS) $(SYSTEMD_CFLAGS)
tests_fuzz_fuzz_jsonrpc_LDFLAGS = $(fuzz_ldflags)
tests_fuzz_fuzz_jsonrpc_LDADD = libbasic.a $(MSGPACK_LIBS) $(JANSSON_LIBS) $(SYSTEMD_LIBS)

# Each target for FUZZ_SECONDS, seeded with the checked-in corpus, which it
# only reads: new inputs go to tests/fuzz/<target>.new in the build tree. A
# failing input (crash, leak, timeout, out of memory) is written next to the
# binaries as <target>-crash-<sha1> (-leak-, -timeout-, -oom-); the other
# targets still run, then the names are listed and `make fuzz` fails.
fuzz: tests/fuzz/fuzz-frame$(EXEEXT) tests/fuzz/fuzz-validate$(EXEEXT) tests/fuzz/fuzz-jsonrpc$(EXEEXT)
	@stamp=$$(mktemp) && failed= && \
	for t in $(fuzz_targets); do \
	  mkdir -p tests/fuzz/$$t.new || exit 1; \
	  echo "  FUZZ     $$t for $(FUZZ_SECONDS)s, new inputs in tests/fuzz/$$t.new"; \
	  tests/fuzz/$$t$(EXEEXT) -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=$(FUZZ_TIMEOUT) \
	    -artifact_prefix=tests/fuzz/$$t- $(FUZZ_FLAGS) tests/fuzz/$$t.new $(fuzz_corpus)/$$t || \
	    failed="$$failed $$t"; \
	done; \
	if test -n "$$failed"; then \
	  echo "make fuzz: FAILED:$$failed; the failing inputs (see tests/fuzz/README):"; \
	  for t in $$failed; do \
	    find tests/fuzz -maxdepth 1 -type f -newer "$$stamp" \( -name "$$t-crash-*" -o -name "$$t-leak-*" \
	      -o -name "$$t-timeout-*" -o -name "$$t-oom-*" \) -printf '  %p\n'; \
	  done; \
	fi >&2; \
	rm -f "$$stamp"; test -z "$$failed"
else
fuzz:
	@echo "make fuzz: configure with CC=clang --enable-fuzzing to build the libFuzzer targets" >&2; exit 1
endif
.PHONY: fuzz

# What `make fuzz` leaves in the build tree: not build products (a developer
# may still want them after `make clean`), so only distclean removes them.
distclean-local: distclean-fuzz
distclean-fuzz:
	-for t in $(fuzz_targets); do \
	  rm -rf tests/fuzz/$$t.new tests/fuzz/$$t-crash-* tests/fuzz/$$t-leak-* tests/fuzz/$$t-timeout-* \
	    tests/fuzz/$$t-oom-* tests/fuzz/$$t-slow-unit-*; \
	done
.PHONY: distclean-fuzz

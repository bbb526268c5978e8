#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# make check: replay tests/fuzz/corpus/fuzz-jsonrpc through the fuzz-jsonrpc target (TAP).
# UBSan only reports by default; a finding must fail the test.
: "${UBSAN_OPTIONS:=print_stacktrace=1:halt_on_error=1}"
export UBSAN_OPTIONS
exec "${top_builddir:?}/tests/fuzz/fuzz-jsonrpc-replay" "${top_srcdir:?}/tests/fuzz/corpus/fuzz-jsonrpc"

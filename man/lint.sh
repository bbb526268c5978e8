#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# TAP test: every manual page under $top_srcdir/man must be clean under
# `mandoc -Tlint -W warning`.

top_srcdir=${top_srcdir:-$(dirname "$0")/..}

if ! command -v mandoc >/dev/null 2>&1; then
	echo "1..0 # SKIP mandoc not installed"
	exit 0
fi

n=0
failed=0
for page in "$top_srcdir"/man/*.[1-8]; do
	[ -f "$page" ] || continue
	n=$((n + 1))
	name=$(basename "$page")
	if out=$(mandoc -Tlint -W warning "$page" 2>&1) && [ -z "$out" ]; then
		echo "ok $n - mandoc lint $name"
	else
		echo "not ok $n - mandoc lint $name"
		printf '%s\n' "$out" | sed 's/^/# /'
		failed=1
	fi
done
echo "1..$n"
exit $failed

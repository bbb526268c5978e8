# SPDX-License-Identifier: LGPL-2.1-or-later
# `make coverage` (docs/COVERAGE.md), in a tree configured with
# --enable-coverage: zero the counters, run the whole test suite, and report
# the lines and functions of src/, jail/ and pool/ that it ran, as an lcov
# summary and as HTML in coverage/html/ (the build tree's coverage/ is ignored
# by git). coverage-prepare and coverage-report are the two halves, for a
# caller that runs the suite itself (.ci/run).
COVERAGE_DIR = coverage
COVERAGE_INFO = $(COVERAGE_DIR)/vivarium.info
# Where the compiler put .gcno files and the programs put .gcda files.
coverage_dirs = src jail pool tests
# Branches are not summarised: at -O0 gcc still counts the branches of the
# inlined helpers in every caller, which makes the figure say little.
LCOV_FLAGS = --quiet --rc lcov_branch_coverage=0
# What the figure is about: not the tests themselves, nor the system's headers.
COVERAGE_EXCLUDE = '/usr/*' '*/tests/*'
# Debian 12's geninfo (lcov 1.16) warns "Subroutine ... redefined" about its
# own code on every run; the rest of what lcov says on stderr is kept.
lcov_run = sh -c 'e=$$(mktemp) && "$$@" 2>"$$e"; r=$$?; grep -v "^Subroutine .* redefined at " "$$e" >&2; \
	rm -f "$$e"; exit $$r' lcov

if ENABLE_COVERAGE
coverage:
	@$(MAKE) $(AM_MAKEFLAGS) coverage-prepare
	@$(MAKE) $(AM_MAKEFLAGS) check || \
	  { echo "make coverage: the test suite failed (test-suite.log); no report" >&2; exit 1; }
	@$(MAKE) $(AM_MAKEFLAGS) coverage-report

# The suite's processes run as root, the test user, the service user and the
# jail's ids, and a process can write only .gcda files that already exist and
# that it may write: empty ones (gcov reads an empty file as no data yet),
# writable by all, in a build tree all of them can reach.
coverage-prepare: all $(check_PROGRAMS) $(check_DATA)
	@rm -rf $(COVERAGE_DIR)
	@find $(coverage_dirs) -name '*.gcda' -delete 2>/dev/null || true
	@find $(coverage_dirs) -name '*.gcno' | sed 's/\.gcno$$/.gcda/' | \
	  while read -r f; do : >"$$f" && chmod 0666 "$$f" || exit 1; done
	@d='$(abs_top_builddir)'; while test "$$d" != /; do \
	  case $$(stat -c %A "$$d") in \
	  *x) ;; \
	  *) echo "make coverage: $$d is not searchable by other users: the counters of" \
	       "processes that run as another user (the test user, the service user, the jail) are lost" >&2;; \
	  esac; d=$$(dirname "$$d"); done

# Files a program never ran are in the figure too, with no line run (the
# initial capture from the .gcno files).
coverage-report:
	@mkdir -p $(COVERAGE_DIR)
	@find $(coverage_dirs) -name '*.gcda' -empty -delete
	@$(lcov_run) $(LCOV) $(LCOV_FLAGS) --capture --initial --directory . --output-file $(COVERAGE_DIR)/base.info
	@$(lcov_run) $(LCOV) $(LCOV_FLAGS) --capture --directory . --output-file $(COVERAGE_DIR)/run.info
	@$(LCOV) $(LCOV_FLAGS) --add-tracefile $(COVERAGE_DIR)/base.info \
	  --add-tracefile $(COVERAGE_DIR)/run.info --output-file $(COVERAGE_DIR)/all.info
	@$(LCOV) $(LCOV_FLAGS) --remove $(COVERAGE_DIR)/all.info $(COVERAGE_EXCLUDE) \
	  --output-file $(COVERAGE_INFO)
	@$(GENHTML) $(LCOV_FLAGS) --prefix $(abs_top_srcdir) --title 'vivarium: make coverage' \
	  --output-directory $(COVERAGE_DIR)/html $(COVERAGE_INFO)
	@echo "make coverage: vivarium-zygote is not counted (docs/COVERAGE.md); HTML in $(abs_top_builddir)/$(COVERAGE_DIR)/html/index.html"
	@$(LCOV) --rc lcov_branch_coverage=0 --summary $(COVERAGE_INFO)
else
coverage coverage-prepare coverage-report:
	@echo "make $@: configure with --enable-coverage (docs/COVERAGE.md)" >&2; exit 1
endif
.PHONY: coverage coverage-prepare coverage-report

clean-local: clean-coverage
clean-coverage:
	-rm -rf $(COVERAGE_DIR)
	-find $(coverage_dirs) \( -name '*.gcda' -o -name '*.gcno' \) -delete 2>/dev/null
.PHONY: clean-coverage

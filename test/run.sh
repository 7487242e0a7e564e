#!/usr/bin/env bash
# `make test`: set-up (test/lib.sh), then every suite against the throwaway
# cluster: pg_regress (sql_tests/ + expected/), isolation
# (test/isolation/specs), TAP (test/t, clusters of their own).  Prints the
# diffs of what failed and sums up as "N passed, N failed" on the last line.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
set -e
privacy_setup
set +e
cd "$WORK"
passed=0; failed=0

# count LOG EXPECTED: the results of a pg_regress or isolation run, in 15's
# format ("name ... ok") or 16's ("ok 1 - name", "not ok 2 + name"); a
# different number of results than tests run counts as one more failure
count() {
	local p f n
	p=$(grep -Ec '\.\.\. ok|^ok [0-9]+ +[-+] ' "$1" || true)
	f=$(grep -Ec '\.\.\. FAILED|\.\.\. failed|^not ok [0-9]+ +[-+] ' "$1" || true)
	n=$((p + f))
	if [ "$n" -ne "$2" ]; then
		echo "!! $1: $n results for $2 tests"
		f=$((f + 1))
	fi
	passed=$((passed + p)); failed=$((failed + f))
}

# --- pg_regress ------------------------------------------------------------
mkdir -p regress
cp -r "$TOP/sql_tests" regress/sql; cp -r "$TOP/expected" regress/expected
chown -R "$(stat -c %u "$WORK/data")" regress 2>/dev/null
tests=$(cd regress/sql && ls *.sql 2>/dev/null | sed 's/\.sql$//' | sort)
if [ -n "$tests" ]; then
	echo "== pg_regress"
	(cd regress && as_pg "$PG_REGRESS" --inputdir=. --outputdir=. \
		--bindir= --dbname=privacy_regress $tests) > regress.log 2>&1
	cat regress.log
	count regress.log "$(echo "$tests" | wc -w)"
	[ -f regress/regression.diffs ] && cat regress/regression.diffs
	# developers: PRIVACY_ACCEPT=1 make test copies the results into expected/
	# (review them with git diff before committing)
	[ -n "${PRIVACY_ACCEPT:-}" ] && cp regress/results/*.out "$TOP/expected/"
fi

# --- isolation ---------------------------------------------------------------
specs=$(cd "$TOP/test/isolation/specs" 2>/dev/null && ls *.spec 2>/dev/null | sed 's/\.spec$//' | sort)
if [ -n "$specs" ]; then
	echo "== isolation"
	mkdir -p iso
	cp -r "$TOP/test/isolation/specs" "$TOP/test/isolation/expected" iso/
	chown -R "$(stat -c %u "$WORK/data")" iso 2>/dev/null
	(cd iso && as_pg "$(dirname "$PG_REGRESS")/../isolation/pg_isolation_regress" \
		--inputdir=. --outputdir=. --bindir= --dbname=privacy_isolation $specs) > iso.log 2>&1
	cat iso.log
	count iso.log "$(echo "$specs" | wc -w)"
	[ -f iso/regression.diffs ] && cat iso/regression.diffs
	[ -n "${PRIVACY_ACCEPT:-}" ] && cp iso/results/*.out "$TOP/test/isolation/expected/"
fi

# --- TAP -----------------------------------------------------------------------
if ls "$TOP"/test/t/*.pl >/dev/null 2>&1; then
	echo "== TAP"
	nfiles=$(ls "$TOP"/test/t/*.pl | wc -l)
	mkdir -p tap; cp -r "$TOP/test/t" tap/; chown -R "$(stat -c %u "$WORK/data")" tap 2>/dev/null
	(cd tap && as_pg env PERL5LIB="$(dirname "$PG_REGRESS")/../perl" PG_TEST_NOCLEAN= \
		PRIVACY_ROOT_KEY_FILE="$WORK/root.key" prove -v t/*.pl) > tap.log 2>&1
	grep -E '^t/.*(ok|Failed|Dubious|skipped)|^(ok|not ok) ' tap.log
	p=$(grep -Ec '^ok [0-9]' tap.log || true); f=$(grep -Ec '^not ok [0-9]' tap.log || true)
	# prove's own totals: every file ran, every planned test reported
	totals=$(grep -E '^Files=[0-9]+, Tests=[0-9]+' tap.log | tail -n 1)
	tfiles=$(echo "$totals" | sed -n 's/^Files=\([0-9]*\),.*/\1/p')
	ttests=$(echo "$totals" | sed -n 's/^Files=[0-9]*, Tests=\([0-9]*\),.*/\1/p')
	bad=0
	grep -Eq '^Result: PASS' tap.log || { echo "!! TAP: prove did not pass"; bad=1; }
	[ "${tfiles:-0}" -eq "$nfiles" ] || { echo "!! TAP: prove ran ${tfiles:-0} of $nfiles files"; bad=1; }
	[ "${ttests:-0}" -eq $((p + f)) ] || { echo "!! TAP: $((p + f)) results for ${ttests:-0} tests"; bad=1; }
	[ "$bad" -eq 1 ] && [ "$f" -eq 0 ] && f=1
	[ "$f" -gt 0 ] && { tail -n 60 tap.log; find tap -name '*.log' -path '*log*' -exec tail -n 30 {} \; ; }
	passed=$((passed + p)); failed=$((failed + f))
fi

# --- Citus: a coordinator and two workers (test/run_citus.sh) ---------------------
if [ -d "$TOP/test/citus/sql" ]; then
	echo "== citus"
	bash "$TOP/test/run_citus.sh" "$WORK" "$INST" 2>&1 | tee citus.log
	# skipped (no Citus source beside the tree) counts nothing; otherwise one
	# result per file of test/citus/sql
	grep -q '^citus: skipped' citus.log ||
		count citus.log "$(ls "$TOP"/test/citus/sql/*.sql | wc -l)"
fi

if [ $failed -gt 0 ]; then echo "--- server log (tail)"; tail -n 40 "$WORK/server.log"; fi
echo "$passed passed, $failed failed"
[ $failed -eq 0 ] && [ $passed -gt 0 ]

#!/usr/bin/env bash
# `make test`: every suite on every supported PostgreSQL major.
#
#   make test           the host's own major (15 on Debian 12), then 17 in a
#                       trixie chroot (test/chroot.sh); 18 in a sid chroot
#                       too when PRIVACY_ALL_MAJORS=1
#   make test PG=17     one major: on the host when its pg_config is there or
#                       the host's Debian release ships it, else in a chroot
#
# For one major: set-up (test/lib.sh), then pg_regress (test/sql,
# test/expected), isolation (test/isolation/specs), TAP (test/t, clusters of
# their own) against the throwaway cluster.  Every suite's results are
# counted in both formats (15's "name ... ok" and 16+'s TAP-style "ok 1 -
# name") and compared with the number of tests it was given: a missing
# result is a failure.  Prints the diffs of what failed and sums up as
# "N passed, N failed" on the last line (over every major without PG).
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)

# The PostgreSQL major this Debian release ships.
host_major() {
	local codename
	codename=$(. /etc/os-release 2>/dev/null; echo "${VERSION_CODENAME:-}")
	case "$codename" in
	bookworm) echo 15 ;;
	trixie) echo 17 ;;
	forky | sid) echo 18 ;;
	*) ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1 ;;
	esac
}

# ---- every major -------------------------------------------------------------
if [ -z "${PG:-}" ]; then
	majors="$(host_major) 17"
	[ -n "${PRIVACY_ALL_MAJORS:-}" ] && majors="$majors 18"
	majors=$(echo "$majors" | tr ' ' '\n' | awk 'NF && !seen[$0]++')
	P=0; F=0; summary=""
	log=$(mktemp /tmp/privacy-majors.XXXXXX)
	# what failed, one short line each, repeated at the very end (CI shows the tail)
	fails=$(mktemp /tmp/privacy-fails.XXXXXX)
	# the first major fills and dumps a database, the later ones restore it
	xfer=$(mktemp -d /tmp/privacy-major.XXXXXX); chmod 755 "$xfer"
	first=1
	for m in $majors; do
		echo "=== PostgreSQL $m"
		t0=$(date +%s)
		if [ $first -eq 1 ]; then
			PG=$m PRIVACY_MAJOR_OUT=$xfer/dump bash "$0" 2>&1 | tee "$log"
		elif [ -f "$xfer/dump/src.dump" ]; then
			PG=$m PRIVACY_MAJOR_IN=$xfer/dump bash "$0" 2>&1 | tee "$log"
		else
			PG=$m bash "$0" 2>&1 | tee "$log"
		fi
		first=0
		grep -E '^PG[0-9]+( regress| TAP| major)?: ' "$log" >> "$fails"
		line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
		if [ -n "$line" ]; then
			p=${line%% passed*}; f=${line#*passed, }; f=${f%% failed*}
		else
			p=0; f=1; line="no result (the run broke off)"
		fi
		P=$((P + p)); F=$((F + f))
		summary="$summary  PostgreSQL $m: $line ($(( $(date +%s) - t0 )) s)\n"
	done
	rm -rf "$log" "$xfer"
	if [ -s "$fails" ]; then
		echo "=== what failed (the details are above)"
		tail -n 15 "$fails"
	fi
	rm -f "$fails"
	echo "=== every major"; printf "%b" "$summary"
	echo "$P passed, $F failed"
	[ "$F" -eq 0 ] && [ "$P" -gt 0 ]
	exit
fi

# ---- one major, in a chroot when the host has no way to it -----------------
if [ ! -x "/usr/lib/postgresql/$PG/bin/pg_config" ] && [ "$PG" != "$(host_major)" ]; then
	exec bash "$TOP/test/chroot.sh" test "$PG"
fi

. "$TOP/test/lib.sh"
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
tests=$(cd "$TOP/test/sql" && ls *.sql 2>/dev/null | sed 's/\.sql$//' | sort)
if [ -n "$tests" ]; then
	echo "== pg_regress"
	mkdir -p regress
	cp -r "$TOP/test/sql" "$TOP/test/expected" regress/
	chown -R "$(stat -c %u "$WORK/data")" regress 2>/dev/null
	(cd regress && as_pg "$PG_REGRESS" --inputdir=. --outputdir=. \
		--bindir= --dbname=privacy_regress $tests) > regress.log 2>&1
	cat regress.log
	count regress.log "$(echo "$tests" | wc -w)"
	[ -f regress/regression.diffs ] && cat regress/regression.diffs
	# developers: PRIVACY_ACCEPT=1 make test copies the results into test/expected/
	# (review them with git diff before committing)
	[ -n "${PRIVACY_ACCEPT:-}" ] && cp regress/results/*.out "$TOP/test/expected/"
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
# the 0.1.0 tree for the extension-upgrade test (t/060), from git history
OLD_REV=c0f650cf8c928b42de79ec9074978e5e117c40b2	# tag v0.1.0
OLD_SRC=
if git -C "$TOP" cat-file -e "$OLD_REV^{commit}" 2>/dev/null; then
	OLD_SRC=$WORK/privacy-0.1.0
	mkdir -p "$OLD_SRC"
	git -C "$TOP" archive "$OLD_REV" | tar -x -C "$OLD_SRC"
	chown -R "$(stat -c %u "$WORK/data")" "$OLD_SRC" 2>/dev/null
fi
if ls "$TOP"/test/t/*.pl >/dev/null 2>&1; then
	echo "== TAP"
	nfiles=$(ls "$TOP"/test/t/*.pl | wc -l)
	mkdir -p tap; cp -r "$TOP/test/t" tap/; chown -R "$(stat -c %u "$WORK/data")" tap 2>/dev/null
	(cd tap && as_pg env PERL5LIB="$(dirname "$PG_REGRESS")/../perl" PG_TEST_NOCLEAN= \
		PRIVACY_ROOT_KEY_FILE="$WORK/root.key" PRIVACY_INST="$INST" PRIVACY_PGSYS="$PGSYS" \
		PG_MAJOR="$PG_MAJOR" PRIVACY_SRC="$TOP" PRIVACY_WORK="$WORK" \
		PRIVACY_OLD_SRC="$OLD_SRC" prove -v t/*.pl) > tap.log 2>&1
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
	[ "$f" -gt 0 ] && { tail -n 60 tap.log; find tap \( -name '*.log' -o -name 'regress_log_*' \) -path '*log*' -exec tail -n 30 {} \; ; }
	passed=$((passed + p)); failed=$((failed + f))
fi

# --- major upgrade (test/major.sh): dump here, restore on a later major -----
. "$TOP/test/major.sh"
if [ -n "${PRIVACY_MAJOR_OUT:-}" ]; then
	echo "== major upgrade: fill and dump"
	major_dump "$PRIVACY_MAJOR_OUT" > major.log 2>&1
	rc=$?; cat major.log
	[ $rc -eq 0 ] || { echo "!! major upgrade: the dump failed"; failed=$((failed + 1)); }
fi
if [ -n "${PRIVACY_MAJOR_IN:-}" ]; then
	echo "== major upgrade: restore"
	major_restore "$PRIVACY_MAJOR_IN" > major.log 2>&1
	cat major.log
	p=$(grep -Ec '^ok [0-9]+ - ' major.log || true); f=$(grep -Ec '^not ok [0-9]+ - ' major.log || true)
	plan=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' major.log)
	[ -n "$plan" ] && [ "$plan" -gt 0 ] && [ $((p + f)) -eq "$plan" ] ||
		{ echo "!! major upgrade: $((p + f)) results for ${plan:-no} plan"; f=$((f + 1)); }
	passed=$((passed + p)); failed=$((failed + f))
fi

# --- Citus: a coordinator and two workers (test/run_citus.sh) ---------------------
if [ -d "$TOP/test/citus/sql" ]; then
	echo "== citus"
	bash "$TOP/test/run_citus.sh" "$WORK" "$INST" 2>&1 | tee citus.log
	# skipped (no Citus source beside the tree) counts nothing; otherwise one
	# result per file of test/citus/sql, and run_citus.sh's log check
	grep -q '^citus: skipped' citus.log ||
		count citus.log "$(( $(ls "$TOP"/test/citus/sql/*.sql | wc -l) + 1 ))"
fi

if [ $failed -gt 0 ]; then
	echo "--- server log (tail)"; tail -n 40 "$WORK/server.log"
	# one short line per failure, for the summary at the very end
	{
		grep -hE '\.\.\. FAILED|\.\.\. failed|^not ok [0-9]+ +[-+] ' regress.log iso.log citus.log 2>/dev/null |
			sed "s/^/PG$PG_MAJOR regress: /"
		grep -hE '^not ok [0-9]' tap.log 2>/dev/null | sed "s/^/PG$PG_MAJOR TAP: /"
		sed -n '/^Test Summary Report/,/^Files=/p' tap.log 2>/dev/null | grep -E '^t/|Failed tests?:|Parse errors' |
			sed "s/^/PG$PG_MAJOR TAP: /"
		grep -hE '^not ok [0-9]' major.log 2>/dev/null | sed "s/^/PG$PG_MAJOR major: /"
		grep -hE '^!! ' regress.log iso.log tap.log citus.log 2>/dev/null | sed "s/^/PG$PG_MAJOR: /"
		echo "PG$PG_MAJOR: $failed failed"
	} > failures.txt 2>/dev/null
	cat failures.txt
fi
echo "== PostgreSQL $PG_MAJOR"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ] && [ $passed -gt 0 ]

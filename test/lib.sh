# Shared set-up for `make test`, `make demo` and `make bench` (sourced).
#
# Builds with warnings as errors, installs the extension into a private copy
# of the PostgreSQL $PG installation (default 15; test/run.sh sets it; like
# PostgreSQL's own `make check`, so the system installation is left alone and
# parallel runs do not collide),
# generates a root key and starts a throwaway cluster as the postgres user,
# listening on a unix socket only.  privacy_cleanup stops it.

PG=${PG:-15}
PGSYS=/usr/lib/postgresql/$PG
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# run a command as the postgres user (initdb refuses root)
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- env PATH="$PATH" PGHOST="${PGHOST:-}" PGPORT="${PGPORT:-}" \
			PG_REGRESS="${PG_REGRESS:-}" PRIVACY_WORK="${PRIVACY_WORK:-}" "$@"
	else
		"$@"
	fi
}

privacy_setup() {
	PG=$PG bash "$TOP/test/deps.sh"
	PG_MAJOR=$($PGSYS/bin/pg_config --version | sed 's/^PostgreSQL \([0-9]*\).*/\1/')
	export PG_MAJOR
	make -C "$TOP" -s COPT='-Werror' PG_CONFIG=$PGSYS/bin/pg_config >/dev/null
	WORK=$(mktemp -d /tmp/privacy.XXXXXX)
	export PRIVACY_WORK=$WORK
	chmod 755 "$WORK"
	INST=$WORK/inst
	mkdir -p "$INST/usr/lib/postgresql" "$INST/usr/share/postgresql"
	cp -a $PGSYS "$INST/usr/lib/postgresql/"
	cp -a "$($PGSYS/bin/pg_config --sharedir)" "$INST/usr/share/postgresql/"
	make -C "$TOP" -s install DESTDIR="$INST" PG_CONFIG=$PGSYS/bin/pg_config >/dev/null
	export PRIVACY_INST=$INST PRIVACY_PGSYS=$PGSYS
	export PATH="$INST$PGSYS/bin:$PATH"
	export PG_REGRESS="$INST$PGSYS/lib/pgxs/src/test/regress/pg_regress"
	# a fresh 32-byte root key, 64 hex characters, readable by postgres only
	# (the major-upgrade test restores a dump made under another major's key)
	if [ -n "${PRIVACY_MAJOR_IN:-}" ] && [ -f "$PRIVACY_MAJOR_IN/root.key" ]; then
		cp "$PRIVACY_MAJOR_IN/root.key" "$WORK/root.key"
	else
		od -An -tx1 -v -N32 /dev/urandom | tr -d ' \n' > "$WORK/root.key"
	fi
	mkdir -p "$WORK/sock"
	[ "$(id -u)" -eq 0 ] && chown -R postgres: "$WORK"
	chmod 600 "$WORK/root.key"
	export PGHOST=$WORK/sock PGPORT=54329
	as_pg initdb -A trust -U postgres -D "$WORK/data" >"$WORK/initdb.log" 2>&1
	cat >> "$WORK/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$WORK/sock'
port = $PGPORT
shared_preload_libraries = 'privacy'
privacy.root_key_file = '$WORK/root.key'
privacy.retention_naptime = 1
max_worker_processes = 32
max_prepared_transactions = 4
fsync = off
log_line_prefix = '%m [%p] %q%a '
CONF
	as_pg pg_ctl -D "$WORK/data" -l "$WORK/server.log" -w start >/dev/null
	trap privacy_cleanup EXIT
}

privacy_cleanup() {
	if [ -n "${WORK:-}" ] && [ -d "$WORK/data" ]; then
		as_pg pg_ctl -D "$WORK/data" -m fast -w stop >/dev/null 2>&1 || true
	fi
	if [ -n "${WORK:-}" ] && [ -z "${PRIVACY_KEEP:-}" ]; then rm -rf "$WORK"; fi
}

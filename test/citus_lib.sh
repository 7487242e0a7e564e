# A Citus coordinator and two workers for the suite (test/run_citus.sh) and
# the benchmark (bench/80_citus.sh); sourced.  Needs WORK (a work directory
# with sock/ and root.key, as test/lib.sh makes it) and INST (the private
# installation, Citus already installed into it by test/citus.sh).
#
#   citus_start DB   initdb + start the three servers as postgres (unix
#                    sockets in $WORK/sock only), CREATE EXTENSION citus in
#                    DB on each, join the workers; returns non-zero on failure
#   citus_stop       stop the three servers
#   cpsql N ARGS     psql as postgres on node N (0 coordinator, 1 and 2 workers)

CITUS_PGSYS=/usr/lib/postgresql/15
CITUS_PORTS=(54340 54341 54342)
CITUS_NODES=(coord w1 w2)

citus_as_pg() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- env PATH="$PATH" "$@"; else "$@"; fi
}

cpsql() {
	local p=${CITUS_PORTS[$1]}; shift
	citus_as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$WORK/sock" -p "$p" -U postgres "$@"
}

citus_stop() {
	local n
	for n in "${CITUS_NODES[@]}"; do
		[ -f "$WORK/citus/$n/postmaster.pid" ] &&
			citus_as_pg pg_ctl -D "$WORK/citus/$n" -m fast -w stop >/dev/null 2>&1
	done
	return 0
}

citus_start() {
	local db=$1 i n C=$WORK/citus
	export PATH="$INST$CITUS_PGSYS/bin:$PATH"
	mkdir -p "$C"
	[ "$(id -u)" -eq 0 ] && chown postgres: "$C"
	for i in 0 1 2; do
		n=${CITUS_NODES[$i]}
		citus_as_pg initdb -A trust -U postgres -D "$C/$n" >"$C/$n.initdb.log" 2>&1 || return 1
		cat >> "$C/$n/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$WORK/sock'
port = ${CITUS_PORTS[$i]}
shared_preload_libraries = 'citus, privacy'
privacy.root_key_file = '$WORK/root.key'
max_prepared_transactions = 20
max_worker_processes = 32
citus.recover_2pc_interval = -1
fsync = off
log_line_prefix = '%m [%p] %q%a '
CONF
		citus_as_pg pg_ctl -D "$C/$n" -l "$C/$n.log" -w start >/dev/null || return 1
	done
	for i in 0 1 2; do
		cpsql $i -d postgres -c "CREATE DATABASE $db" || return 1
		cpsql $i -d "$db" -c "CREATE EXTENSION citus" || return 1
	done
	cpsql 0 -d "$db" >/dev/null <<SQL || return 1
SELECT pg_catalog.citus_set_coordinator_host('$WORK/sock', ${CITUS_PORTS[0]});
SELECT pg_catalog.citus_add_node('$WORK/sock', ${CITUS_PORTS[1]});
SELECT pg_catalog.citus_add_node('$WORK/sock', ${CITUS_PORTS[2]});
SQL
}

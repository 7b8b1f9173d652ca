#!/bin/sh
# Entrypoint of the cutter-test/postgres:15 image (built by scripts/test-stack
# from Debian packages, without any image registry). It mimics the official
# postgres image closely enough for cutter's tests:
#   POSTGRES_USER (default postgres), POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE,
#   POSTGRES_DB (default = POSTGRES_USER), PGDATA (default
#   /var/lib/postgresql/data), POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD,
#   /docker-entrypoint-initdb.d/*.sql|*.sql.gz|*.sh run once on first start.
# Host connections use scram-sha-256, the local socket is trusted.
# If the first argument is not `postgres` the command is simply exec'ed.
set -eu

# `docker run IMAGE -c foo=bar` -> postgres -c foo=bar
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
	set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
	exec "$@"
fi

PGDATA=${PGDATA:-/var/lib/postgresql/data}
export PGDATA

# as_postgres CMD...: run CMD as the postgres OS user (no fork left behind).
as_postgres() {
	if command -v setpriv >/dev/null 2>&1; then
		setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
	else
		runuser -u postgres -- "$@"
	fi
}

# VAR or VAR_FILE (like the official image's file_env)
file_env() {
	_var=$1
	_def=${2:-}
	eval "_val=\${$_var:-}"
	eval "_file=\${${_var}_FILE:-}"
	if [ -n "$_val" ] && [ -n "$_file" ]; then
		echo "error: both $_var and ${_var}_FILE are set (but are exclusive)" >&2
		exit 1
	fi
	if [ -n "$_file" ]; then
		_val=$(cat "$_file")
	fi
	[ -n "$_val" ] || _val=$_def
	eval "$_var=\$_val"
	export "${_var?}"
	unset "${_var}_FILE" _var _def _val _file
}

if [ "$(id -u)" = 0 ]; then
	mkdir -p "$PGDATA" /var/run/postgresql
	chown postgres:postgres /var/run/postgresql
	chmod 3777 /var/run/postgresql
	# only fix ownership when needed (the volume may be large)
	if [ "$(stat -c %U "$PGDATA")" != postgres ]; then
		chown -R postgres:postgres "$PGDATA"
	fi
	chmod 700 "$PGDATA"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	file_env POSTGRES_USER postgres
	file_env POSTGRES_PASSWORD
	file_env POSTGRES_DB "$POSTGRES_USER"
	auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
	if [ -z "$POSTGRES_PASSWORD" ] && [ "$auth" != trust ]; then
		echo "error: database is uninitialized and superuser password is not specified." >&2
		echo "       Set POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE), or POSTGRES_HOST_AUTH_METHOD=trust." >&2
		exit 1
	fi
	cd /
	pwfile=$(mktemp)
	printf '%s\n' "${POSTGRES_PASSWORD:-}" >"$pwfile"
	chown postgres "$pwfile"
	chmod 600 "$pwfile"
	set -f
	# shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is word-split on purpose
	as_postgres initdb --username="$POSTGRES_USER" --pwfile="$pwfile" \
		--auth-local=trust --auth-host="$auth" \
		--encoding=UTF8 --locale=C.UTF-8 ${POSTGRES_INITDB_ARGS:-} >/dev/null
	set +f
	rm -f "$pwfile"
	printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"

	# Temporary server on a private socket directory, no TCP: nobody outside
	# can mistake it for the final, ready server.
	initsock=$(mktemp -d)
	chown postgres "$initsock"
	as_postgres pg_ctl -D "$PGDATA" -w -t 120 \
		-o "-c listen_addresses='' -c unix_socket_directories='$initsock'" start >/dev/null
	export PGHOST="$initsock" PGUSER="$POSTGRES_USER" PGPASSWORD="${POSTGRES_PASSWORD:-}"
	if [ "$POSTGRES_DB" != postgres ]; then
		psql -v ON_ERROR_STOP=1 -q --dbname postgres --set db="$POSTGRES_DB" <<-'EOSQL'
			CREATE DATABASE :"db";
		EOSQL
	fi
	if [ -d /docker-entrypoint-initdb.d ]; then
		for f in /docker-entrypoint-initdb.d/*; do
			[ -e "$f" ] || continue
			case "$f" in
			*.sh)
				if [ -x "$f" ]; then
					echo "$0: running $f"
					"$f"
				else
					echo "$0: sourcing $f"
					# shellcheck disable=SC1090
					. "$f"
				fi
				;;
			*.sql)
				echo "$0: running $f"
				psql -v ON_ERROR_STOP=1 -q --dbname "$POSTGRES_DB" -f "$f"
				;;
			*.sql.gz)
				echo "$0: running $f"
				gzip -dc "$f" | psql -v ON_ERROR_STOP=1 -q --dbname "$POSTGRES_DB"
				;;
			*) echo "$0: ignoring $f" ;;
			esac
		done
	fi
	as_postgres pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
	rm -rf "$initsock"
	unset PGHOST PGUSER PGPASSWORD
	echo "PostgreSQL init process complete; ready for start up."
fi

shift
if [ "$(id -u)" = 0 ]; then
	exec setpriv --reuid=postgres --regid=postgres --init-groups -- \
		postgres -c listen_addresses='*' "$@"
fi
exec postgres -c listen_addresses='*' "$@"

# shellcheck shell=bash
# Part of scripts/test-stack (sourced after lib.sh; runs the image of image.sh): the seeded
# "production" the tests must never change: network cutter-prod-net, volume
# cutter-prod-pgdata, containers postgres (seeded from seed.sql), directus
# and redis (idle). Every object carries the label cutter.test.stack=1; one
# without it is never used or removed.

# value of the stack label of a docker object, empty if missing
ctr_label() { docker container inspect -f "{{index .Config.Labels \"$STACK_LABEL\"}}" "$1" 2>/dev/null || :; }
vol_label() { docker volume inspect -f "{{index .Labels \"$STACK_LABEL\"}}" "$1" 2>/dev/null || :; }
net_label() { docker network inspect -f "{{index .Labels \"$STACK_LABEL\"}}" "$1" 2>/dev/null || :; }
ctr_exists() { docker container inspect "$1" >/dev/null 2>&1; }
ctr_running() { [ "$(docker container inspect -f '{{.State.Running}}' "$1" 2>/dev/null)" = true ]; }

ensure_network() {
	if docker network inspect "$NET" >/dev/null 2>&1; then
		[ "$(net_label "$NET")" = 1 ] || die "network $NET exists but was not created by test-stack; refusing to use it"
	else
		docker network create --label "$STACK_LABEL=1" "$NET" >/dev/null
	fi
}

ensure_volume() {
	if docker volume inspect "$VOL" >/dev/null 2>&1; then
		[ "$(vol_label "$VOL")" = 1 ] || die "volume $VOL exists but was not created by test-stack; refusing to use it"
	else
		docker volume create --label "$STACK_LABEL=1" "$VOL" >/dev/null
	fi
}

# ensure_container NAME -- docker-run-args... : create it (or re-create it when
# its image is outdated), start it when stopped.
ensure_container() {
	local name=$1 image_id cur
	shift
	image_id=$(docker image inspect -f '{{.Id}}' "$IMAGE")
	if ctr_exists "$name"; then
		[ "$(ctr_label "$name")" = 1 ] || die "container $name exists but was not created by test-stack; refusing to touch it"
		cur=$(docker container inspect -f '{{.Image}}' "$name")
		if [ "$cur" != "$image_id" ]; then
			log "container $name runs an old image; re-creating it"
			# a clean stop keeps postgres' statistics (a kill resets them)
			docker stop -t 60 "$name" >/dev/null
			docker rm "$name" >/dev/null
		elif ! ctr_running "$name"; then
			log "starting stopped container $name"
			docker start "$name" >/dev/null
			return 0
		else
			return 0
		fi
	fi
	log "creating container $name"
	docker run -d --name "$name" --label "$STACK_LABEL=1" --network "$NET" \
		--restart unless-stopped "$@" >/dev/null
}

pg_password() {
	if [ ! -s "$STATE/prod-password" ]; then
		local pw=""
		# state dir lost (e.g. /tmp wiped) but the container survived: reuse its password
		if ctr_exists "$PG" && [ "$(ctr_label "$PG")" = 1 ]; then
			pw=$(docker container inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$PG" |
				sed -n 's/^POSTGRES_PASSWORD=//p')
		fi
		[ -n "$pw" ] || pw=$(head -c 18 /dev/urandom | base64 | tr '+/' 'xy')
		(
			umask 077
			printf '%s\n' "$pw" >"$STATE/prod-password"
		)
	fi
	chmod 600 "$STATE/prod-password"
	head -n1 "$STATE/prod-password"
}

psql_prod() {
	docker exec -i "$PG" psql -X -v ON_ERROR_STOP=1 -U "$PG_USER" -d "$PG_DB" "$@"
}

wait_pg_ready() {
	local i
	for i in $(seq 1 240); do
		if [ "$(docker exec "$PG" psql -X -U "$PG_USER" -d "$PG_DB" -tAc 'select 1' 2>/dev/null)" = 1 ]; then
			return 0
		fi
		if ! ctr_running "$PG" && [ "$i" -gt 5 ]; then
			docker logs --tail 30 "$PG" >&2 || :
			die "container $PG is not running"
		fi
		sleep 0.5
	done
	docker logs --tail 30 "$PG" >&2 || :
	die "postgres did not become ready"
}

seed_marker() {
	echo "cutter-test-seed $(sha256sum <"$SEED_SRC" | cut -c1-16)"
}

db_marker() {
	psql_prod -tAc "select coalesce(shobj_description(oid, 'pg_database'), '') from pg_database where datname = current_database()"
}

# tables whose pg_stat n_live_tup differs from their real row count
stats_mismatches() {
	psql_prod -tA <<'EOF'
select count(*) from (
  select s.n_live_tup,
         (xpath('/row/c/text()', query_to_xml(format('select count(*) as c from %I.%I', s.schemaname, s.relname), false, true, '')))[1]::text::bigint as c
  from pg_stat_user_tables s) t
where n_live_tup is distinct from c;
EOF
}

ensure_stats() {
	local i m
	m=$(stats_mismatches)
	[ "$m" = 0 ] && return 0
	log "refreshing statistics ($m tables with stale n_live_tup)"
	psql_prod -qc 'VACUUM ANALYZE' >/dev/null
	for i in $(seq 1 60); do
		psql_prod -qtAc "select pg_stat_force_next_flush()" >/dev/null 2>&1 || :
		m=$(stats_mismatches)
		[ "$m" = 0 ] && return 0
		sleep 0.5
	done
	die "pg_stat_user_tables did not settle ($m tables differ)"
}

ensure_prod() {
	local pw
	pw=$(pg_password)
	ensure_network
	ensure_volume
	ensure_container "$PG" \
		-e POSTGRES_USER="$PG_USER" -e POSTGRES_PASSWORD="$pw" -e POSTGRES_DB="$PG_DB" \
		-v "$VOL":/var/lib/postgresql/data \
		"$IMAGE"
	local c
	for c in "${IDLE_CONTAINERS[@]}"; do
		ensure_container "$c" "$IMAGE" \
			sh -c 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done'
	done
	wait_pg_ready
	# keep the role's password in step with $STATE/prod-password (state dir may be new)
	psql_prod -q --set pw="$pw" --set u="$PG_USER" >/dev/null <<'EOF'
ALTER ROLE :"u" PASSWORD :'pw';
EOF

	local want have
	want=$(seed_marker)
	have=$(db_marker)
	if [ "$have" != "$want" ]; then
		if [ -n "$have" ]; then
			log "seed changed ($have -> $want); re-creating the production database"
			docker rm -f "$PG" >/dev/null
			docker volume rm "$VOL" >/dev/null
			ensure_prod
			return
		fi
		log "seeding the production database (scripts/stack/seed.sql)"
		{
			cat "$SEED_SRC"
			printf "COMMENT ON DATABASE %s IS '%s';\n" "$PG_DB" "$want"
		} | psql_prod -q -1 >/dev/null
		psql_prod -qc 'VACUUM ANALYZE' >/dev/null
	fi
	ensure_stats
	remove_old_images
}

prod_table_count() {
	psql_prod -tAc "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace
		where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast'"
}

# status lines of production; calls status_problem when it is not as `up` leaves it
prod_status() {
	local have c st
	if [ "$(net_label "$NET")" = 1 ]; then echo "network    $NET"; else
		echo "network    $NET: missing"
		status_problem
	fi
	if [ "$(vol_label "$VOL")" = 1 ]; then echo "volume     $VOL"; else
		echo "volume     $VOL: missing"
		status_problem
	fi
	for c in "$PG" "${IDLE_CONTAINERS[@]}"; do
		st=$(docker container inspect -f '{{.State.Status}}' "$c" 2>/dev/null || echo missing)
		[ "$st" = running ] || status_problem
		printf 'container  %-9s %s\n' "$c" "$st"
	done
	if ctr_running "$PG"; then
		have=$(db_marker 2>/dev/null || :)
		if [ "$have" = "$(seed_marker)" ]; then
			echo "seed       complete ($(prod_table_count) tables)"
		else
			echo "seed       NOT complete"
			status_problem
		fi
	fi
}

# Remove production and what tests left behind (only objects labelled
# cutter.managed=true AND cutter.test=1); needs the docker engine.
remove_prod() {
	local c ids
	ids=$(docker ps -aq --filter label=cutter.managed=true --filter label=cutter.test=1)
	if [ -n "$ids" ]; then
		log "removing test leftover containers: $(echo "$ids" | tr '\n' ' ')"
		# shellcheck disable=SC2086
		docker rm -f -v $ids >/dev/null || :
	fi
	for c in "$PG" "${IDLE_CONTAINERS[@]}"; do
		if ctr_exists "$c"; then
			if [ "$(ctr_label "$c")" = 1 ]; then
				log "removing container $c"
				docker rm -f -v "$c" >/dev/null || :
			else
				log "warning: container $c is not the stack's; leaving it"
			fi
		fi
	done
	ids=$(docker network ls -q --filter label=cutter.managed=true --filter label=cutter.test=1)
	if [ -n "$ids" ]; then
		log "removing test leftover networks"
		# shellcheck disable=SC2086
		docker network rm $ids >/dev/null || :
	fi
	if docker network inspect "$NET" >/dev/null 2>&1; then
		if [ "$(net_label "$NET")" = 1 ]; then
			log "removing network $NET"
			docker network rm "$NET" >/dev/null || log "warning: could not remove network $NET"
		else
			log "warning: network $NET is not the stack's; leaving it"
		fi
	fi
	ids=$(docker volume ls -q --filter label=cutter.managed=true --filter label=cutter.test=1)
	if [ -n "$ids" ]; then
		log "removing test leftover volumes"
		# shellcheck disable=SC2086
		docker volume rm -f $ids >/dev/null || :
	fi
	if docker volume inspect "$VOL" >/dev/null 2>&1; then
		if [ "$(vol_label "$VOL")" = 1 ]; then
			log "removing volume $VOL"
			docker volume rm "$VOL" >/dev/null || log "warning: could not remove volume $VOL"
		else
			log "warning: volume $VOL is not the stack's; leaving it"
		fi
	fi
}

# shellcheck shell=bash
# The settings below are read by the other parts, not here:
# shellcheck disable=SC2034
# Shared settings and helpers of scripts/test-stack, sourced first by it
# (not run on its own). The other parts, one concern each, are sourced after
# it: packages.sh, image.sh, sshd.sh, production.sh. The rest of this
# directory is copied into the stack: docker-entrypoint.sh into the image,
# ssh-audit-wrapper.sh next to sshd, seed.sql into production's database.

STACK_SRC=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
STATE=$(readlink -m "${CUTTER_TEST_STACK_DIR:-/tmp/cutter-test-stack}")
# paths go unquoted into sshd_config, ssh_config and the env file
if ! [[ "$STATE" =~ ^/[A-Za-z0-9._/-]+$ ]] || [ "$STATE" = / ]; then
	echo "test-stack: unusable state dir '$STATE' (only [A-Za-z0-9._/-] allowed)" >&2
	exit 2
fi

IMAGE=cutter-test/postgres:15
STACK_LABEL=cutter.test.stack
RECIPE_LABEL=cutter.test.recipe
OP_USER=cutter-op
OP_HOME=/home/cutter-op
NET=cutter-prod-net
VOL=cutter-prod-pgdata
PG=postgres
PG_USER=directus
PG_DB=directus
IDLE_CONTAINERS=(directus redis)
SSH_ALIAS=cutter-test-vps
SSHD=/usr/sbin/sshd
ENTRYPOINT_SRC=$STACK_SRC/docker-entrypoint.sh
WRAPPER_SRC=$STACK_SRC/ssh-audit-wrapper.sh
SEED_SRC=$STACK_SRC/seed.sql
# Bump to force an image rebuild when something outside the hashed functions changes.
RECIPE_VERSION=1

log() { printf '[test-stack %s] %s\n' "$(date +%T)" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# `status` lines flag a part that is not as `up` leaves it with this
status_problem() { status_bad=1; }

need_root() { [ "$(id -u)" = 0 ] || die "must run as root"; }

# flock on $STATE/.lock. `down` deletes the state dir while holding the lock,
# so after getting the lock check that the file we locked is still the one at
# that path; otherwise retry on the new one.
take_lock() {
	while :; do
		mkdir -p "$STATE"
		chmod 755 "$STATE"
		exec 9>>"$STATE/.lock"
		flock 9
		if [ "$(stat -L -c %d:%i /proc/self/fd/9)" = "$(stat -c %d:%i "$STATE/.lock" 2>/dev/null || :)" ]; then
			return 0
		fi
		exec 9>&-
	done
}

# shellcheck shell=bash
# Part of scripts/test-stack (sourced after lib.sh): the machine's packages
# the stack needs, installed with apt when missing.

ensure_packages() {
	local need=() created_policy=0
	[ -x "$SSHD" ] || need+=(openssh-server)
	command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
	{ command -v ssh >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1; } || need+=(openssh-client)
	# The example CI workflow's steps use jq (as GitHub's runners have it); tests/workflow.rs runs them.
	command -v jq >/dev/null 2>&1 || need+=(jq)
	[ ${#need[@]} -eq 0 ] && return 0
	log "installing ${need[*]} with apt"
	# Keep package scripts from starting services (e.g. a system sshd on :22).
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\n# temporary, from cutter scripts/test-stack\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		created_policy=1
	fi
	local rc=0
	{
		DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
	} >"$STATE/apt.log" 2>&1 || rc=$?
	if [ "$created_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
	if [ "$rc" != 0 ]; then
		tail -n 30 "$STATE/apt.log" >&2
		die "apt-get failed (log: $STATE/apt.log)"
	fi
}

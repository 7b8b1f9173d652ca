# shellcheck shell=bash
# Part of scripts/test-stack (sourced after lib.sh): the image
# cutter-test/postgres:15, built without a registry (debootstrap of Debian
# bookworm minbase + postgresql-15, `docker import`), rebuilt only when its
# recipe (the hashed functions below and the entrypoint) changes.


# The main Debian archive's URL, read from this machine's apt sources.
debian_mirror() {
	local uri=""
	if compgen -G '/etc/apt/sources.list.d/*.sources' >/dev/null; then
		uri=$(awk '
			function flush() {
				if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ / bookworm / && uris != "" && found == "") {
					split(uris, u, " "); found = u[1]
				}
				types = ""; suites = ""; uris = ""
			}
			/^[ \t]*$/ { flush(); next }
			/^[ \t]*#/ { next }
			tolower($1) == "types:"  { $1 = ""; types = $0 }
			tolower($1) == "suites:" { $1 = ""; suites = $0 }
			tolower($1) == "uris:"   { $1 = ""; uris = $0 }
			END { flush(); print found }
		' /etc/apt/sources.list.d/*.sources)
	fi
	if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
		uri=$(awk '$1 == "deb" {
				i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
				if ($(i + 1) == "bookworm") { print $i; exit }
			}' /etc/apt/sources.list)
	fi
	[ -n "$uri" ] || die "no Debian bookworm archive found in the apt sources"
	printf '%s\n' "${uri%/}"
}

# Unmount anything below $1, then delete it without crossing filesystems.
remove_rootfs() {
	local dir=$1 m
	[ -n "$dir" ] && [ -d "$dir" ] || return 0
	awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r |
		while IFS= read -r m; do umount -l "$m" 2>/dev/null || :; done
	if awk -v d="$dir/" 'index($2, d) == 1 { f = 1 } END { exit !f }' /proc/self/mounts; then
		log "warning: mounts remain below $dir; not deleting it"
		return 0
	fi
	rm -rf --one-file-system "$dir"
}

trim_rootfs() {
	local root=$1
	# the cluster postgresql-common's postinst created; the entrypoint makes its own
	rm -rf "$root"/etc/postgresql/15/main "$root"/var/lib/postgresql/15
	rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
		"$root"/usr/share/lintian "$root"/usr/share/linda
	find "$root"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
	# keep C.UTF-8 (built into /usr/lib/locale/C.utf8 by libc-bin), drop the rest
	find "$root"/usr/lib/locale -mindepth 1 -maxdepth 1 ! -name 'C.utf8' ! -name 'C.UTF-8' -exec rm -rf {} + 2>/dev/null || :
	# LLVM JIT support (~150 MB): postgres quietly runs without JIT when it is missing
	rm -rf "$root"/usr/lib/postgresql/15/lib/bitcode "$root"/usr/lib/postgresql/15/lib/llvmjit*.so \
		"$root"/usr/lib/x86_64-linux-gnu/libLLVM* "$root"/usr/lib/x86_64-linux-gnu/libz3.so*
	rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/var/cache/debconf/*-old \
		"$root"/var/log/* "$root"/tmp/* "$root"/var/tmp/*
	find "$root"/dev -mindepth 1 -delete 2>/dev/null || :
	rm -rf "$root"/proc/* "$root"/sys/* "$root"/run/*
}

build_pg_image() {
	local root=$1 mirror=$2 entrypoint=$3
	debootstrap --variant=minbase --include=postgresql-15 bookworm "$root" "$mirror"
	trim_rootfs "$root"
	install -m 755 "$entrypoint" "$root"/usr/local/bin/docker-entrypoint.sh
	# inside the chroot: /var/run is an absolute symlink to /run
	chroot "$root" sh -ec '
		mkdir -p /docker-entrypoint-initdb.d /var/lib/postgresql/data /run/postgresql
		chown postgres:postgres /var/lib/postgresql/data /run/postgresql
		chmod 700 /var/lib/postgresql/data
		chmod 3777 /run/postgresql
		/usr/lib/postgresql/15/bin/postgres --version
		/usr/lib/postgresql/15/bin/psql --version
		/usr/lib/postgresql/15/bin/pg_dump --version
		/usr/lib/postgresql/15/bin/pg_restore --version
		command -v setpriv
	'
}

# Image metadata, added on top of the imported rootfs $1; $2 = recipe hash.
image_dockerfile() {
	cat <<EOF
FROM $1
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    PGDATA=/var/lib/postgresql/data \\
    LANG=C.UTF-8
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]
STOPSIGNAL SIGINT
EXPOSE 5432
LABEL $RECIPE_LABEL=$2
EOF
}

# Fingerprint of how the image is made: the entrypoint + the build functions
# (build_pg_image, trim_rootfs, image_dockerfile; progress/logging code is not
# part of it).
recipe_hash() {
	{
		echo "recipe $RECIPE_VERSION"
		declare -f build_pg_image trim_rootfs image_dockerfile
		cat "$ENTRYPOINT_SRC"
	} | sha256sum | cut -c1-64
}

image_recipe() {
	docker image inspect -f "{{index .Config.Labels \"$RECIPE_LABEL\"}}" "$IMAGE" 2>/dev/null || :
}

# Filter of debootstrap's output: phase lines as they come, per-package lines counted.
build_progress() {
	local line n=0 t0=$SECONDS
	while IFS= read -r line; do
		case $line in
		*" packages..." | *" system..." | "I: Retrieving InRelease"* | "I: Retrieving Release"* | "I: Retrieving Packages"* | "I: Validating Packages"*) ;;
		"I: Retrieving "*)
			n=$((n + 1))
			[ $((n % 40)) = 0 ] && printf '[test-stack] image build +%ds: ... %d packages retrieved\n' $((SECONDS - t0)) "$n" >&2
			continue
			;;
		"I: Validating "* | "I: Extracting "* | "I: Unpacking "* | "I: Configuring "*) continue ;;
		"I: "* | "W: "* | "E: "*) ;;
		*) continue ;;
		esac
		printf '[test-stack] image build +%ds: %s\n' $((SECONDS - t0)) "$line" >&2
	done
	return 0
}

ensure_image() {
	local want have
	want=$(recipe_hash)
	have=$(image_recipe)
	if [ "$have" = "$want" ]; then
		return 0
	fi
	if [ -n "$have" ]; then
		log "image $IMAGE has an old recipe ($have); rebuilding"
	else
		log "image $IMAGE missing; building it from Debian packages (about a minute)"
	fi
	local mirror root started
	mirror=$(debian_mirror)
	root=$(mktemp -d /var/tmp/cutter-pg-rootfs.XXXXXX)
	started=$SECONDS
	# shellcheck disable=SC2064
	trap "remove_rootfs '$root'" EXIT
	log "debootstrap --variant=minbase --include=postgresql-15 bookworm (full log: $STATE/image-build.log)"
	local mirror_re rcs
	mirror_re=$(printf '%s' "$mirror" | sed 's/[][\.*^$|/]/\\&/g')
	# progress: phase lines as they come, per-package steps summarised
	set +e
	(
		set -e
		build_pg_image "$root" "$mirror" "$ENTRYPOINT_SRC"
	) 2>&1 | sed -u "s/$mirror_re/<debian-mirror>/g" | tee "$STATE/image-build.log" | build_progress
	rcs=("${PIPESTATUS[@]}")
	set -e
	if [ "${rcs[0]}" != 0 ] || ! grep -q '^postgres (PostgreSQL) 15' "$STATE/image-build.log"; then
		tail -n 40 "$STATE/image-build.log" >&2
		die "image build failed (log: $STATE/image-build.log)"
	fi
	log "importing rootfs ($(du -sh "$root" | cut -f1)) as $IMAGE"
	# `docker import --change` cannot set STOPSIGNAL on this engine: import the
	# bare rootfs, then add the metadata with a context-less (legacy) build.
	# No cutter.test.stack label on the image: containers inherit image labels,
	# and that label is what marks the stack's own containers.
	tar --numeric-owner --xattrs -C "$root" -cf - . |
		docker import -m "cutter test stack: debian bookworm minbase + postgresql-15" - "$IMAGE-rootfs" >/dev/null
	if ! image_dockerfile "$IMAGE-rootfs" "$want" |
		DOCKER_BUILDKIT=0 docker build -q -t "$IMAGE" - >/dev/null 2>"$STATE/image-meta-build.log"; then
		cat "$STATE/image-meta-build.log" >&2
		die "docker build of the image metadata failed"
	fi
	docker image rm "$IMAGE-rootfs" >/dev/null
	remove_rootfs "$root"
	trap - EXIT
	[ "$(image_recipe)" = "$want" ] || die "imported image lacks the recipe label"
	log "image $IMAGE built in $((SECONDS - started))s"
}

# images of earlier recipes, untagged by a rebuild (fails quietly while in use)
remove_old_images() {
	local id
	for id in $(docker images -q --filter dangling=true --filter "label=$RECIPE_LABEL"); do
		if docker image rm "$id" >/dev/null 2>&1; then log "removed old image $id"; fi
	done
}

# status lines of the image; calls status_problem when it is not as `up` leaves it
image_status() {
	local have want
	have=$(image_recipe)
	want=$(recipe_hash)
	if [ -z "$have" ]; then
		echo "image      $IMAGE: missing"
		status_problem
	elif [ "$have" != "$want" ]; then
		echo "image      $IMAGE: present, recipe OUTDATED ($have != $want)"
		status_problem
	else
		echo "image      $IMAGE: present, recipe ${want:0:12} matches"
	fi
}

remove_image() {
	if [ -n "$(image_recipe)" ]; then
		log "removing image $IMAGE"
		docker image rm "$IMAGE" >/dev/null || log "warning: could not remove image $IMAGE (still in use?)"
	fi
}

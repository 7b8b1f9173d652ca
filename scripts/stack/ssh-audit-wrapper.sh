#!/bin/sh
# ForceCommand of the test stack's sshd (copied into the state dir by
# scripts/test-stack). Appends one line per command to audit.log next to this
# script: "<UTC RFC3339 time>\t<command>", the command with backslash written
# as \\, newline as \n and tab as \t, then runs the command exactly as sshd
# would have (/bin/sh -c), keeping stdin/stdout/stderr and the exit status.
# An interactive session (no command) is logged with an empty command.
log=${0%/*}/audit.log
if [ "${#SSH_ORIGINAL_COMMAND}" -gt 3000 ]; then
	# long commands may need several write()s: serialise writers
	exec 9>>"$log"
	flock 9
	exec 8>&9
else
	exec 8>>"$log"
fi
awk 'function rep(s, sep, by,    n, a, i, o) {
	n = split(s, a, sep); o = a[1]
	for (i = 2; i <= n; i++) o = o by a[i]
	return o
}
BEGIN {
	c = rep(ENVIRON["SSH_ORIGINAL_COMMAND"], "\\\\", "\\\\")
	c = rep(rep(c, "\n", "\\n"), "\t", "\\t")
	printf "%s\t%s\n", strftime("%Y-%m-%dT%H:%M:%SZ", systime(), 1), c
}' >&8 </dev/null || :
exec 8>&- 9>&-
if [ "${SSH_ORIGINAL_COMMAND+set}" = set ]; then
	exec /bin/sh -c "$SSH_ORIGINAL_COMMAND"
fi
exec /bin/sh -l

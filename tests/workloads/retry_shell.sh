#!/bin/bash
# retry_shell - a shell retry loop that opens, dups and closes, and keeps one fd each attempt.
#
# Models: a deploy script waiting for a lock file: each attempt opens the lock (bash moves it
# to fd >= 10: an open and a dup, the first closed), dups it to "keep it for later", closes the
# first, fails to get the lock, sleeps --period and retries: net +1 fd an attempt, never closed.
#
# Usage: retry_shell.sh [--limit N] [--period 0.2] [--duration 90]
# Stdout: start <pid> <fds> <wall>; progress <t> <fds> <attempts> once a second; done <t> <fds> <n>
limit= period=0.2 duration=90
while [ $# -gt 1 ]; do
	case $1 in
	--limit) limit=$2 ;;
	--period) period=$2 ;;
	--duration) duration=$2 ;;
	*) echo "usage: retry_shell.sh [--limit N] [--period S] [--duration S]" >&2; exit 2 ;;
	esac
	shift 2
done
[ -n "$limit" ] && ulimit -S -n "$limit"
lock=/proc/self/exe
fds() { local a=(/proc/$$/fd/*); echo ${#a[@]}; }
t0=$EPOCHREALTIME
echo "start $$ $(fds) $t0"
n=0 next=1
while :; do
	now=$EPOCHREALTIME
	t=$(( (${now/./} - ${t0/./}) / 1000 ))	# ms since start
	[ "$t" -ge $(( ${duration%.*} * 1000 )) ] && break
	exec {fd}<"$lock"
	exec {kept}<&"$fd"
	exec {fd}<&-
	n=$((n + 1))
	if [ "$t" -ge $((next * 1000)) ]; then
		echo "progress $((t / 1000)).${t: -3} $(fds) $n"
		next=$((next + 1))
	fi
	sleep "$period"
done
echo "done $((t / 1000)) $(fds) $n"

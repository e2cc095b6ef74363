#!/bin/sh
# docker-entrypoint.sh of hush-local/redis: what the official image's does
# for Hush's use, in busybox. As root, give the data directory to the redis
# user (uid 999) and drop to it; otherwise run the command as it is.
set -e
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
	find /data \! -user redis -exec chown redis:redis '{}' +
	# the full path: busybox sh prefers its own (lesser) setpriv applet
	exec /usr/local/bin/setpriv --reuid=999 --regid=999 --clear-groups "$@"
fi
exec "$@"

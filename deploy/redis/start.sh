#!/bin/sh
# Entry point of the redis service in docker compose: render the ACL file
# from the environment, then hand over to the image's own entry point
# (which drops root for the redis user) with Hush's configuration.
set -eu
mkdir -p /run/hush
sh /etc/hush/redis/render-acl.sh /etc/hush/redis/users.acl.template /run/hush/users.acl
chown -R redis:redis /run/hush 2>/dev/null || true
exec docker-entrypoint.sh redis-server /etc/hush/redis/redis.conf --dir /data --aclfile /run/hush/users.acl

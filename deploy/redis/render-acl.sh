#!/bin/sh
# render-acl.sh TEMPLATE OUT: writes Redis's ACL file from the template,
# with the SHA-256 of $HUSH_REDIS_PASSWORD and $HUSH_REDIS_ADMIN_PASSWORD
# in place of their placeholders, and without the template's comments.
# Refuses to run when a password is missing or empty.
set -eu
in=$1
out=$2
: "${HUSH_REDIS_PASSWORD:?HUSH_REDIS_PASSWORD is required}"
: "${HUSH_REDIS_ADMIN_PASSWORD:?HUSH_REDIS_ADMIN_PASSWORD is required}"
sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
hush=$(sha "$HUSH_REDIS_PASSWORD")
admin=$(sha "$HUSH_REDIS_ADMIN_PASSWORD")
umask 077
grep -v '^#' "$in" |
  sed -e "s/@HUSH_REDIS_PASSWORD_SHA256@/$hush/" -e "s/@HUSH_REDIS_ADMIN_PASSWORD_SHA256@/$admin/" >"$out"

#!/bin/sh
# Runs coturn from the shipped turnserver.conf (beside this file) with this deployment's
# values, as deploy/compose.yaml and the Kubernetes coturn Deployment do.
#
# Every key the file marks with "# [test]" (addresses, ports, certificate paths, secret,
# realm) takes its value from the environment variable TURN_<KEY>, the key upper-cased with
# "-" as "_": listening-ip from TURN_LISTENING_IP, static-auth-secret from
# TURN_STATIC_AUTH_SECRET (= CLASSROOM_TURN_SECRET), and so on. A marked key without a
# value stops here, before coturn starts. Every other line is kept as shipped (the lines
# marked "[test: dropped]" too: only the tests leave them out), so what runs is what
# tests/e2e/test_turn_relay.py tests. Optional, appended when set: TURN_EXTERNAL_IP
# (external-ip=, for 1:1 NAT: "<public>/<private>") and TURN_ALLOWED_PEER_IP
# (allowed-peer-ip=, a classroom node on a private address the relay must reach).
#
# The rendered file (it holds the secret) is written mode 0600 to TURN_RENDERED
# (default /tmp/turnserver.conf); arguments are passed on to turnserver.
set -eu

src=${TURN_CONFIG:-$(dirname "$0")/turnserver.conf}
out=${TURN_RENDERED:-/tmp/turnserver.conf}
umask 077
: > "$out"

marked=""
while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
        "# [test]"*) marked=yes ;;
        "#"* | "") ;;
        *)
            if [ -n "$marked" ]; then
                marked=""
                key=${line%%=*}
                var=TURN_$(printf '%s' "$key" | tr 'a-z-' 'A-Z_')
                value=$(printenv "$var" || true)
                if [ -z "$value" ]; then
                    echo "coturn/render.sh: $var is not set (the value of $key in $src)" >&2
                    exit 2
                fi
                line="$key=$value"
            fi
            ;;
    esac
    printf '%s\n' "$line" >> "$out"
done < "$src"

{
    echo ""
    echo "# --- added by render.sh from the environment"
    if [ -n "${TURN_EXTERNAL_IP:-}" ]; then echo "external-ip=$TURN_EXTERNAL_IP"; fi
    if [ -n "${TURN_ALLOWED_PEER_IP:-}" ]; then echo "allowed-peer-ip=$TURN_ALLOWED_PEER_IP"; fi
} >> "$out"

exec turnserver -c "$out" "$@"

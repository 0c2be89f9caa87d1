#!/bin/sh
# Relay benchmark: strports relay (tokio, smol; --threads 1 and 2) vs socat, same run, release build,
# to a TCP upstream (section tcp) and to a TLS one (section tls).
# Usage: cli/benches/relay.sh [tcp] [tls]     (both by default: about 3 minutes after the build)
set -eu
cd "$(dirname "$0")/../.."
if ! command -v socat >/dev/null 2>&1; then
    echo "installing socat" >&2
    if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
    $SUDO apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq socat >/dev/null
fi
exec cargo bench -p strports-cli --bench relay -- "$@"

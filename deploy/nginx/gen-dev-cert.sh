#!/usr/bin/env bash
# A self-signed certificate for development: certs/tls.crt + certs/tls.key next to this script
# (or in the directory given as $1), valid 825 days for localhost and the names in $DEV_NAMES.
set -euo pipefail
dir="${1:-$(dirname "$0")/certs}"
names="${DEV_NAMES:-localhost}"
mkdir -p "$dir"
san="IP:127.0.0.1"
for n in $names; do san="$san,DNS:$n"; done
openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=${names%% *}" \
    -addext "subjectAltName=$san" \
    -keyout "$dir/tls.key" -out "$dir/tls.crt" 2>/dev/null
chmod 600 "$dir/tls.key"
echo "wrote $dir/tls.crt and $dir/tls.key ($san)"

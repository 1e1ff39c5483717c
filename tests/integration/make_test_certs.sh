#!/usr/bin/env bash
# Makes a throwaway CA and two server certificates signed by it, for TLS tests:
#   good.pem/good.key  for DNS:localhost and IP:127.0.0.1
#   wrong.pem/wrong.key for DNS:wrong.test only (a host-name mismatch on 127.0.0.1)
# Usage: make_test_certs.sh DIR
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=oa-bypass test CA" \
  -keyout ca.key -out ca.pem 2>/dev/null
for name in good wrong; do
  if [ "$name" = good ]; then san="DNS:localhost,IP:127.0.0.1"; else san="DNS:wrong.test"; fi
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$name" -keyout "$name.key" -out "$name.csr" 2>/dev/null
  printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$san" > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile "$name.ext" -out "$name.pem" 2>/dev/null
done

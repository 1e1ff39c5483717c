#!/usr/bin/env bash
# Fails when a committed artefact in gen/ differs from what proto/ compiles to now.
# Usage: check-gen.sh BUILT_DESCRIPTOR_SET COMMITTED_DESCRIPTOR_SET
set -euo pipefail
if ! cmp -s "$1" "$2"; then
  echo "gen/openai_v1.binpb is stale or missing: run scripts/update-gen.sh and commit gen/" >&2
  exit 1
fi
echo "gen/ matches proto/"

#!/usr/bin/env bash
# Fails when a committed artefact in gen/ differs from what proto/ compiles to now:
# the descriptor set, and gen/API.md (written by scripts/gen-api-doc.py from it).
# Usage: check-gen.sh BUILT_DESCRIPTOR_SET COMMITTED_DESCRIPTOR_SET
# (gen/API.md is looked for beside COMMITTED_DESCRIPTOR_SET.)
set -euo pipefail
scripts="$(cd "$(dirname "$0")" && pwd)"
api="$(dirname "$2")/API.md"
status=0
if ! cmp -s "$1" "$2"; then
  echo "gen/openai_v1.binpb is stale or missing: run scripts/update-gen.sh and commit gen/" >&2
  status=1
fi
if ! "$scripts/gen-api-doc.py" "$1" | cmp -s - "$api"; then
  echo "gen/API.md is stale or missing: run scripts/update-gen.sh and commit gen/" >&2
  status=1
fi
((status == 0)) && echo "gen/ matches proto/"
exit "$status"

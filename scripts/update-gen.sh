#!/usr/bin/env bash
# Regenerates the committed artefacts in gen/ from proto/ (after editing a .proto file).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh >/dev/null
cp "${BUILD_DIR:-build}/openai_v1.binpb" gen/openai_v1.binpb
echo "gen/ updated from proto/"

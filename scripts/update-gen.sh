#!/usr/bin/env bash
# Regenerates the committed artefacts in gen/ from proto/ (after editing a .proto file,
# or after scripts/protogen.py rewrote proto/openai/v1 from OpenAI's spec).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh >/dev/null
cp "${BUILD_DIR:-build}/openai_v1.binpb" gen/openai_v1.binpb
scripts/gen-api-doc.py gen/openai_v1.binpb >gen/API.md
echo "gen/ updated from proto/"

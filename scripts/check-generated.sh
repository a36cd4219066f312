#!/usr/bin/env bash
# Fails when the committed generated code differs from what buf generates from proto/.
set -euo pipefail
cd "$(dirname "$0")/.."
npx buf generate
if ! git diff --quiet --exit-code -- sdk/src/gen || [ -n "$(git ls-files --others --exclude-standard sdk/src/gen)" ]; then
  echo "generated code is out of date: run 'npm run generate' and commit sdk/src/gen" >&2
  git status --short -- sdk/src/gen >&2
  exit 1
fi
echo "generated code matches proto/"

#!/usr/bin/env bash
# Install the storage emulators the tests start (Azurite), pinned by package-lock.json.
# Idempotent: does nothing when node_modules already has azurite-blob.
set -euo pipefail
cd "$(dirname "$0")"
if [ -x node_modules/.bin/azurite-blob ]; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error

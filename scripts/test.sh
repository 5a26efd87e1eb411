#!/usr/bin/env bash
# Quick start, part 2: set up, then lint, type-check, build and run every test (unit and integration).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
npm test

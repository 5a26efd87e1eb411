#!/usr/bin/env bash
# Quick start, part 1: set up, build and run the demo (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
npm run demo

#!/usr/bin/env bash
# Regenerates man/*.1 and completions/ from the clap definitions (the man
# tests check them).
set -euo pipefail
cd "$(dirname "$0")/.."
SLIPWAY_BLESS=1 cargo test --workspace --locked --test man -q

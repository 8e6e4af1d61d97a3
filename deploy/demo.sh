#!/bin/sh
# `make demo`: the main job on the local stack. Until bill runs land
# (invoicing), this starts the stack and shows its status; see README.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
sh "$ROOT/deploy/stack.sh" start
echo
echo "The four services are running on the local stack (logs in var/log/)."
echo "Stop them with: make stop"

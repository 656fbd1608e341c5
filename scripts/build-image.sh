#!/usr/bin/env bash
# Builds the static node binary and the natsraft image FROM scratch.
#
#   scripts/build-image.sh                 # tags natsraft:latest
#   scripts/build-image.sh natsraft:v1     # another tag
#
# NATSRAFT_NODE_BINARY=path uses an already built static binary instead of
# running go build (the end-to-end tests build it once for all their uses).
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-natsraft:latest}
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT

if [[ -n "${NATSRAFT_NODE_BINARY:-}" ]]; then
  cp "$NATSRAFT_NODE_BINARY" "$context/node"
else
  CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$context/node" ./cmd/node
fi
mkdir "$context/data"
docker build --quiet --file Dockerfile --tag "$tag" "$context" >/dev/null
echo "$tag"

#!/usr/bin/env bash
# Regenerates Shared/MeshProto/Generated from proto/**/*.proto.
#   proto/generate.sh          rewrite the committed generated code
#   proto/generate.sh --check  regenerate into a temp dir and fail if the committed code differs
# The protoc plugins are built from our own dependencies in a separate scratch folder
# (.build-protoc), so this never disturbs the main build.
set -euo pipefail
cd "$(dirname "$0")/.."

CHECK=0
[ "${1:-}" = "--check" ] && CHECK=1

if ! command -v protoc >/dev/null 2>&1; then
  echo "protoc missing; installing protobuf-compiler" >&2
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq protobuf-compiler >/dev/null
  else
    sudo apt-get update -qq && sudo apt-get install -y -qq protobuf-compiler >/dev/null
  fi
fi

SCRATCH=.build-protoc
PROTO_ROOT=proto
DEST=Shared/MeshProto/Generated
swift build --scratch-path "$SCRATCH" --product protoc-gen-swift >&2
swift build --scratch-path "$SCRATCH" --product protoc-gen-grpc-swift-2 >&2
BIN="$(swift build --scratch-path "$SCRATCH" --show-bin-path)"

OUT=$DEST
if [ "$CHECK" = 1 ]; then
  OUT=$(mktemp -d)
  trap 'rm -rf "$OUT"' EXIT
fi
mkdir -p "$OUT"
rm -f "$OUT"/*.pb.swift "$OUT"/*.grpc.swift
mapfile -t PROTOS < <(cd "$PROTO_ROOT" && find . -name '*.proto' | sed 's|^\./||' | sort)
protoc --proto_path="$PROTO_ROOT" \
  --plugin=protoc-gen-swift="$BIN/protoc-gen-swift" \
  --plugin=protoc-gen-grpc-swift-2="$BIN/protoc-gen-grpc-swift-2" \
  --swift_out="$OUT" --swift_opt=Visibility=Public --swift_opt=FileNaming=PathToUnderscores \
  --grpc-swift-2_out="$OUT" --grpc-swift-2_opt=Visibility=Public --grpc-swift-2_opt=FileNaming=PathToUnderscores \
  "${PROTOS[@]}"

if [ "$CHECK" = 1 ]; then
  if ! diff -ru "$DEST" "$OUT" --exclude='*.md'; then
    echo "proto/generate.sh --check: generated code is stale; run proto/generate.sh and commit" >&2
    exit 1
  fi
  echo "proto/generate.sh --check: generated code is up to date" >&2
fi

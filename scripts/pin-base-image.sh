#!/usr/bin/env bash
# Pins deploy/Dockerfile's base image by digest: asks the registry which manifest digest its tag
# serves now (the Docker Registry HTTP API v2, as `docker buildx imagetools inspect` does) and
# rewrites the `ARG NODE_IMAGE=` line to `name:tag@sha256:…`. Run it when the base image should move
# (a Node patch release, a Debian security update), review the diff, rebuild, commit.
#
#   scripts/pin-base-image.sh            resolve the tag and write the digest
#   scripts/pin-base-image.sh --check    exit 1 unless the base image is pinned by digest (release gate)
#
# REGISTRY (default registry-1.docker.io) and AUTH_URL (default https://auth.docker.io/token) may point
# at a mirror. Exit status: 0 done, 1 not pinned (--check), 2 the registry could not be asked.
set -euo pipefail
cd "$(dirname "$0")/.."
DOCKERFILE="${DOCKERFILE:-deploy/Dockerfile}"
REGISTRY="${REGISTRY:-https://registry-1.docker.io}"
AUTH_URL="${AUTH_URL:-https://auth.docker.io/token}"

line="$(grep -E '^ARG NODE_IMAGE=' "$DOCKERFILE" | head -n 1)"
image="${line#ARG NODE_IMAGE=}"
if [ "${1:-}" = "--check" ]; then
  if [[ "$image" =~ @sha256:[0-9a-f]{64}$ ]]; then
    echo "pinned: $image"
    exit 0
  fi
  echo "not pinned by digest: $image (run scripts/pin-base-image.sh)" >&2
  exit 1
fi

ref="${image%%@*}"             # node:24-bookworm-slim
name="${ref%%:*}"              # node
tag="${ref#*:}"                # 24-bookworm-slim
[ "$tag" = "$ref" ] && tag=latest
repo="$name"
[[ "$repo" == */* ]] || repo="library/$repo"   # official images live under library/

token="$(curl -fsS --max-time 20 "$AUTH_URL?service=registry.docker.io&scope=repository:$repo:pull" | sed -n 's/.*"token" *: *"\([^"]*\)".*/\1/p')" || {
  echo "pin-base-image: could not get a pull token from $AUTH_URL" >&2
  exit 2
}
# The index (multi-platform) digest, so the pin holds for every architecture the tag serves.
accept='application/vnd.oci.image.index.v1+json,application/vnd.docker.distribution.manifest.list.v2+json,application/vnd.docker.distribution.manifest.v2+json,application/vnd.oci.image.manifest.v1+json'
digest="$(curl -fsSI --max-time 20 -H "Authorization: Bearer $token" -H "Accept: $accept" "$REGISTRY/v2/$repo/manifests/$tag" \
  | tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: *\(sha256:[0-9a-f]\{64\}\)$/\1/p')" || true
if [ -z "$digest" ]; then
  echo "pin-base-image: $REGISTRY did not answer a digest for $repo:$tag" >&2
  exit 2
fi
sed -i "s|^ARG NODE_IMAGE=.*|ARG NODE_IMAGE=$ref@$digest|" "$DOCKERFILE"
echo "pinned $ref@$digest in $DOCKERFILE"

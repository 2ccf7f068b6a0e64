#!/usr/bin/env bash
# The TypeScript contracts' drift check (run by .ci/run): the committed schema.d.ts must be
# exactly what the pinned openapi-typescript makes of openapi/openapi.json, and the example
# client must type-check against it (tsc --noEmit, strict). Needs node + npm. Takes ~10 s.
set -euo pipefail
cd "$(dirname "$0")"

# Every package comes from the configured registry, pinned by integrity hash: no git, file or
# tarball URLs sneak in through the lockfile.
registry="$(npm config get registry)"
node - "$registry" <<'JS'
const [registry] = process.argv.slice(2);
const lock = require("./package-lock.json");
const bad = [];
for (const [path, pkg] of Object.entries(lock.packages)) {
  if (!path) continue;
  if (!pkg.integrity) bad.push(`${path}: no integrity hash`);
  if (pkg.resolved && !pkg.resolved.startsWith(registry)) bad.push(`${path}: from ${pkg.resolved}`);
}
if (bad.length) {
  console.error("package-lock.json has packages from outside the registry:\n  " + bad.join("\n  "));
  process.exit(1);
}
JS

npm ci --no-audit --no-fund --loglevel=error >/dev/null

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# `npm run generate` itself (one place for the generator's flags), in a scratch copy of the
# layout it expects, so the committed file is only read.
mkdir -p "$tmp/contracts/ts" "$tmp/openapi"
cp ../../openapi/openapi.json "$tmp/openapi/"
cp package.json "$tmp/contracts/ts/"
ln -s "$PWD/node_modules" "$tmp/contracts/ts/node_modules"
(cd "$tmp/contracts/ts" && npm run --silent generate) >"$tmp/log" 2>&1 \
    || { cat "$tmp/log" >&2; echo "openapi-typescript failed" >&2; exit 1; }
if ! diff -u schema.d.ts "$tmp/contracts/ts/schema.d.ts" >"$tmp/diff"; then
    head -n 40 "$tmp/diff" >&2
    echo >&2
    echo "contracts/ts/schema.d.ts is out of date with openapi/openapi.json." >&2
    echo "Regenerate it and commit the result:  (cd contracts/ts && npm ci && npm run generate)" >&2
    exit 1
fi
echo "ok: contracts/ts/schema.d.ts matches openapi/openapi.json"

npx --no-install tsc --noEmit -p .
echo "ok: the example client type-checks (tsc --noEmit, strict)"

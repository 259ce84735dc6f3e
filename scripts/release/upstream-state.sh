#!/usr/bin/env bash
# Which stacks a stack reads (its terraform_remote_state: the manifest's dependencies) have no
# state yet, i.e. were never deployed:
#   bash scripts/release/upstream-state.sh dev-compute
# Prints each upstream stack without state, one per line. Exit 0: every upstream has state (or
# the stack reads none); 3: at least one has none, so a plan of this stack cannot read its
# outputs; 2: usage or no synthesised stack; 1: the state bucket could not be asked (credentials,
# access). Needs `npx cdktf synth` first, and s3:ListBucket on the state bucket with s3:GetObject
# on the keys (the plan role has both): without ListBucket S3 answers a missing key with 403.
set -euo pipefail
stack=${1:?usage: upstream-state.sh <stack>}
manifest=cdktf.out/manifest.json
if [ ! -f "$manifest" ]; then
  echo "upstream-state: no ${manifest} (run npx cdktf synth)" >&2
  exit 2
fi
# "<upstream> <bucket> <key>" for each upstream stack, from the synthesised backends.
upstreams=$(node -e '
  const fs = require("fs");
  const [manifestPath, name] = process.argv.slice(1);
  const stacks = JSON.parse(fs.readFileSync(manifestPath, "utf8")).stacks;
  if (!stacks[name]) { console.error(`upstream-state: no synthesised stack "${name}"`); process.exit(2); }
  for (const dep of stacks[name].dependencies ?? []) {
    const s3 = JSON.parse(fs.readFileSync(`cdktf.out/${stacks[dep].synthesizedStackPath}`, "utf8")).terraform?.backend?.s3;
    if (!s3) { console.error(`upstream-state: ${dep} keeps no state in S3`); process.exit(2); }
    console.log(`${dep} ${s3.bucket} ${s3.key}`);
  }
' "$manifest" "$stack")
missing=0
while read -r upstream bucket key; do
  [ -n "${upstream:-}" ] || continue
  if err=$(aws s3api head-object --bucket "$bucket" --key "$key" 2>&1 >/dev/null); then
    continue
  fi
  if grep -qE '\(404\)|Not Found' <<<"$err"; then
    echo "$upstream"
    missing=1
    continue
  fi
  echo "upstream-state: cannot tell whether ${upstream} has state (s3://${bucket}/${key}): ${err}" >&2
  exit 1
done <<<"$upstreams"
[ "$missing" = 0 ] || exit 3

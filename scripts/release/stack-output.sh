#!/usr/bin/env bash
# Prints one output of an applied stack, read from its remote state:
#   bash scripts/release/stack-output.sh <stack> <output>      e.g. dev-compute api_url
# Needs `npx cdktf synth` first and credentials that can read the state bucket.
set -euo pipefail
stack=${1:?usage: stack-output.sh <stack> <output>}
output=${2:?usage: stack-output.sh <stack> <output>}
dir="cdktf.out/stacks/${stack}"
if [ ! -f "${dir}/cdk.tf.json" ]; then
  echo "stack-output: no synthesised stack \"${stack}\" in cdktf.out (run npx cdktf synth)" >&2
  exit 2
fi
terraform -chdir="${dir}" init -input=false >/dev/null
terraform -chdir="${dir}" output -raw "${output}"

#!/usr/bin/env bash
# The digest an image tag holds in ECR, printed; nothing when the tag does not exist. Any other
# error (access denied, no such repository) is printed to stderr and exits non-zero.
#
#   bash scripts/release/tagged-digest.sh <repository-url> <tag>
#
# Needs ecr:DescribeImages on the repository.
set -euo pipefail
repo_url=${1:?usage: tagged-digest.sh <repository-url> <tag>}
tag=${2:?usage: tagged-digest.sh <repository-url> <tag>}
repository=${repo_url#*/}
registry_id=${repo_url%%.*}
err=$(mktemp)
trap 'rm -f "$err"' EXIT
if out=$(aws ecr describe-images --registry-id "$registry_id" --repository-name "$repository" \
  --image-ids imageTag="$tag" --query 'imageDetails[0].imageDigest' --output text 2>"$err"); then
  printf '%s' "$out"
  exit 0
fi
grep -q 'ImageNotFoundException' "$err" && exit 0
cat "$err" >&2
exit 1

#!/usr/bin/env bash
# Gives an image already in ECR its release tag, once: safe to run again (a re-run of the same
# commit), loud when the tag holds another image.
#
#   bash scripts/release/ensure-image-tag.sh <repository-url> <tag> <source-ref> <digest>
#
#   repository-url  <account>.dkr.ecr.<region>.amazonaws.com/<name>, where the tag goes
#   tag             the commit SHA
#   source-ref      the image to tag, by digest: <repository-url>@<digest> (a build pushed by
#                   digest, untagged) or another repository's (prod promoting dev's image)
#   digest          sha256:… of that image's manifest
#
# The repositories are IMMUTABLE: pushing a tag that exists fails, even with the same digest. So:
#   - the tag is absent: the manifest is copied byte for byte under the tag (imagetools, no index
#     wrapped around it), then read back;
#   - the tag holds this digest: nothing to do (exit 0, "already tagged");
#   - the tag holds another digest: exit 1 with both digests and the way out. Never overwritten.
# Needs ecr:DescribeImages, BatchGetImage, PutImage (and the layer actions) on the repositories,
# and a docker login to the registry (aws-actions/amazon-ecr-login).
set -euo pipefail
repo_url=${1:?usage: ensure-image-tag.sh <repository-url> <tag> <source-ref> <digest>}
tag=${2:?usage: ensure-image-tag.sh <repository-url> <tag> <source-ref> <digest>}
source_ref=${3:?usage: ensure-image-tag.sh <repository-url> <tag> <source-ref> <digest>}
digest=${4:?usage: ensure-image-tag.sh <repository-url> <tag> <source-ref> <digest>}
repository=${repo_url#*/}
if [[ ! $digest =~ ^sha256:[0-9a-f]{64}$ ]]; then
  echo "::error::ensure-image-tag: digest must be sha256:<64 hex>, got \"${digest}\"" >&2
  exit 2
fi

# The digest the tag holds, empty when the tag does not exist; any other error stops the step.
tagged_digest() {
  bash "$(dirname "$0")/tagged-digest.sh" "$repo_url" "$tag"
}

refuse() {
  {
    echo "::error title=${repository}:${tag} holds another image::${repository}:${tag} is ${1}; this run has ${digest}. ECR tags are immutable: the tag is not overwritten and the deploy stops here."
    echo "Why: an earlier run of this commit pushed another build (a base image or a package moved between the two builds, the build cache was gone), or the tag was pushed by hand."
    echo "Way out: deploy a new commit (git commit --allow-empty -m rebuild; git push): its SHA is a new tag. In dev, an administrator may instead delete the tag"
    echo "(aws ecr batch-delete-image --repository-name ${repository} --image-ids imageTag=${tag}) and re-run the job."
  } >&2
  exit 1
}

current=$(tagged_digest)
if [ "$current" = "$digest" ]; then
  echo "${repository}:${tag} is already ${digest}: nothing to push"
  exit 0
fi
[ -z "$current" ] || refuse "$current"

# --prefer-index=false: a single manifest is copied as it is (same digest), not wrapped in an index.
if ! docker buildx imagetools create --prefer-index=false --tag "${repo_url}:${tag}" "${source_ref}"; then
  # A run that tagged it in between (the deploy concurrency group should make this impossible).
  current=$(tagged_digest)
  [ "$current" = "$digest" ] && { echo "${repository}:${tag} is ${digest} (tagged meanwhile)"; exit 0; }
  [ -z "$current" ] || refuse "$current"
  exit 1
fi
current=$(tagged_digest)
[ "$current" = "$digest" ] || refuse "${current:-<no such tag>}"
echo "${repository}:${tag} -> ${digest}"

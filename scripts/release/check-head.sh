#!/usr/bin/env bash
# Fails unless COMMIT (the run's commit) is still the head of REF in REPOSITORY:
#   REPOSITORY=owner/repo REF=refs/heads/main COMMIT=<sha> GH_TOKEN=<token> bash scripts/release/check-head.sh
# A deploy run re-run after main has moved on ("Re-run jobs" on an older run, or an older run's
# prod job approved after a newer commit landed) would put its commit's stacks, images and
# aliases back over the newer commit's, which main's own latest run deploys (or has deployed).
# Going back is the rollback workflow's or a revert commit's (docs/deploy.md), never a re-run.
set -euo pipefail
repository=${REPOSITORY:?REPOSITORY is not set}
ref=${REF:?REF is not set}
commit=${COMMIT:?COMMIT is not set}
branch=${ref#refs/heads/}
if ! head=$(gh api "repos/${repository}/git/ref/${ref#refs/}" --jq .object.sha); then
  echo "::error::cannot read the head of ${branch} in ${repository} (gh api repos/${repository}/git/ref/${ref#refs/}): nothing deployed"
  exit 1
fi
if [ "$head" != "$commit" ]; then
  echo "::error title=${commit:0:12} is not the head of ${branch}::${branch} is at ${head} now, whose run deploys it (none starts for a commit pushed with [skip ci]: push again): deploying ${commit} would put an older commit back over it. To go back, run the rollback workflow or push a revert commit (docs/deploy.md); nothing deployed"
  exit 1
fi
echo "deploying ${commit}, the head of ${branch}"

#!/usr/bin/env bash
# Fails unless ROLE_ARN (the GitHub environment's `AWS_DEPLOY_ROLE_ARN` variable) is the deploy
# role of ENVIRONMENT:
#   ENVIRONMENT=dev ROLE_ARN=arn:aws:iam::123456789012:role/docplatform-github-deploy-dev bash scripts/release/check-deploy-role.sh
# IAM refuses another environment's role anyway (each deploy role trusts only the token of a
# job in its own GitHub environment); this turns a variable set at the repository level, or
# copied from the wrong environment, into a clear error before any AWS call.
set -euo pipefail
env=${ENVIRONMENT:?ENVIRONMENT is not set}
arn=${ROLE_ARN:-}
if [[ ! "${arn}" =~ ^arn:aws:iam::[0-9]{12}:role/docplatform-github-deploy-${env}$ ]]; then
  echo "::error::vars.AWS_DEPLOY_ROLE_ARN of the GitHub environment '${env}' must be the ARN of docplatform-github-deploy-${env} (bootstrap output deploy_role_arn_${env}), got '${arn:-<unset>}'"
  exit 1
fi
echo "deploy role of ${env}: ${arn}"

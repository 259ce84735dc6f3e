#!/usr/bin/env bash
# Runs the schema migrations of one environment as its migration task and waits for the result:
#   bash scripts/release/run-migrations.sh <env> [db:migrate option…]     e.g. dev
# The task definition, cluster and network come from the compute stack's outputs
# (migration_task_family, cluster_name, migration_run_network); the command is overridden to
# `npm run db:migrate -- --when-empty skip` (or the options given). On-demand FARGATE: a Spot
# reclaim must not cut a migration short. Exit status: the task's own (0 done or nothing to do,
# 1 failed, 2 bad input; its log says why), or 3 when the task did not run or did not end in time.
# Needs `npx cdktf synth`, credentials that read the state bucket and run the task, aws and jq.
set -euo pipefail
env=${1:?usage: run-migrations.sh <env> [db:migrate option…]}
shift
options=("$@")
[ ${#options[@]} -eq 0 ] && options=(--when-empty skip)
stack="${env}-compute"
timeout_seconds=${MIGRATION_TIMEOUT_SECONDS:-1200}
poll_seconds=${MIGRATION_POLL_SECONDS:-10}

cluster=$(bash scripts/release/stack-output.sh "$stack" cluster_name)
family=$(bash scripts/release/stack-output.sh "$stack" migration_task_family)
network=$(terraform -chdir="cdktf.out/stacks/${stack}" output -json migration_run_network)
subnets=$(jq -r '.subnets | join(",")' <<<"$network")
groups=$(jq -r '.securityGroups | join(",")' <<<"$network")
options_json=$(printf '%s\n' "${options[@]}" | jq -R . | jq -sc .)
overrides=$(jq -cn --argjson options "$options_json" '{containerOverrides: [{name: "app", command: (["npm", "run", "db:migrate", "--"] + $options)}]}')

started=$(aws ecs run-task --cluster "$cluster" --task-definition "$family" --launch-type FARGATE \
  --network-configuration "awsvpcConfiguration={subnets=[${subnets}],securityGroups=[${groups}],assignPublicIp=DISABLED}" \
  --overrides "$overrides" --started-by "deploy-${GITHUB_RUN_ID:-manual}" --output json)
task=$(jq -r '.tasks[0].taskArn // empty' <<<"$started")
if [ -z "$task" ]; then
  echo "run-migrations: the task did not start: $(jq -c '.failures' <<<"$started")" >&2
  exit 3
fi
echo "run-migrations: ${task} (${family}: npm run db:migrate -- ${options[*]}); log: /ecs/${family}, stream app/app/${task##*/}"

deadline=$((SECONDS + timeout_seconds))
while :; do
  status=$(aws ecs describe-tasks --cluster "$cluster" --tasks "$task" --query 'tasks[0].lastStatus' --output text)
  [ "$status" = STOPPED ] && break
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "run-migrations: still ${status} after ${timeout_seconds} s; stopping it" >&2
    aws ecs stop-task --cluster "$cluster" --task "$task" --reason "run-migrations timeout" >/dev/null
    exit 3
  fi
  sleep "$poll_seconds"
done

stopped=$(aws ecs describe-tasks --cluster "$cluster" --tasks "$task" --output json)
code=$(jq -r '.tasks[0].containers[] | select(.name == "app") | .exitCode // empty' <<<"$stopped")
if [ -z "$code" ]; then
  echo "run-migrations: the migration never ran: $(jq -r '.tasks[0].stoppedReason // "unknown"' <<<"$stopped")" >&2
  exit 3
fi
if [ "$code" != 0 ]; then
  echo "run-migrations: npm run db:migrate exited ${code} (1: the database refused, 2: bad input); see the log above" >&2
fi
exit "$code"

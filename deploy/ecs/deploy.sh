#!/usr/bin/env bash
# Registers task-definition.json (application + forensic-logging-sidecar) as a new revision and
# rolls an existing ECS service onto it, waiting until the service is stable.
#
#   AWS_ACCOUNT_ID=123456789012 AWS_REGION=eu-west-1 CLUSTER=switch SERVICE=central-ledger \
#   IMAGE=123456789012.dkr.ecr.eu-west-1.amazonaws.com/forensic-logging-sidecar:1.0.0 \
#   APP_IMAGE=...central-ledger:v1 KMS_URL=wss://kms.example.internal/sidecar deploy/ecs/deploy.sh [--dry-run]
#
# --dry-run prints the rendered task definition and calls nothing (CLUSTER and SERVICE unused).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
template="${here}/task-definition.json"
usage="usage: AWS_ACCOUNT_ID=… AWS_REGION=… CLUSTER=… SERVICE=… IMAGE=… APP_IMAGE=… KMS_URL=… $0 [--dry-run]"

dry_run=false
case "${1:-}" in
  --dry-run) dry_run=true ;;
  "") ;;
  *) echo "$usage" >&2; exit 64 ;;
esac

# Substituted into the template as ${NAME}.
placeholders=(AWS_ACCOUNT_ID AWS_REGION IMAGE APP_IMAGE KMS_URL)
required=("${placeholders[@]}")
"$dry_run" || required+=(CLUSTER SERVICE)

for name in "${required[@]}"; do
  value="${!name:-}"
  if [[ -z "$value" ]]; then
    echo "deploy.sh: ${name} is not set" >&2
    echo "$usage" >&2
    exit 64
  fi
  # Values go into JSON strings verbatim: refuse anything that would need escaping there.
  if [[ ! "$value" =~ ^[A-Za-z0-9._:/@+=-]+$ ]]; then
    echo "deploy.sh: ${name}='${value}' has characters a task definition value does not take" >&2
    exit 64
  fi
done

# Plain bash replacement, so neither envsubst (gettext-base) nor sed escaping is needed; the
# quoted replacement keeps bash 5.2 from treating '&' in a value as the matched text.
rendered="$(<"$template")"
for name in "${placeholders[@]}"; do
  rendered="${rendered//"\${${name}}"/"${!name}"}"
done
# A ${NAME} the list above does not cover would reach AWS as literal text.
# shellcheck disable=SC2016  # the '${' is literal on purpose
if [[ "$rendered" == *'${'* ]]; then
  echo "deploy.sh: placeholders left in the task definition:" >&2
  # shellcheck disable=SC2016
  grep -o '\${[A-Za-z_]*}' <<<"$rendered" | sort -u >&2
  exit 1
fi

if "$dry_run"; then
  printf '%s\n' "$rendered"
  exit 0
fi

file="$(mktemp)"
trap 'rm -f "$file"' EXIT
printf '%s\n' "$rendered" >"$file"

arn="$(aws ecs register-task-definition --region "$AWS_REGION" --cli-input-json "file://${file}" \
  --query 'taskDefinition.taskDefinitionArn' --output text)"
echo "registered ${arn}"

aws ecs update-service --region "$AWS_REGION" --cluster "$CLUSTER" --service "$SERVICE" \
  --task-definition "$arn" --query 'service.taskDefinition' --output text
echo "waiting for ${SERVICE} on ${CLUSTER} to become stable"
aws ecs wait services-stable --region "$AWS_REGION" --cluster "$CLUSTER" --services "$SERVICE"
echo "deployed ${arn} to ${SERVICE}"

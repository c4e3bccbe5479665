#!/usr/bin/env bash
# Lints the CloudFormation template `osls package` writes, for the default parameters and for
# the non-default set (an existing bucket under a KMS key, an alarm topic, Secrets Manager).
# Only W3005 may remain: the framework puts a DependsOn on each function's role (and on the
# existing-bucket custom resource's function) that a GetAtt already implies.
# Skips, saying why, where cfn-lint is not installed (`pip install cfn-lint`).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cfn-lint >/dev/null 2>&1; then
  echo "cfn-lint: skipped, cfn-lint is not installed (pip install cfn-lint)"
  exit 0
fi
PATH="$PWD/node_modules/.bin:$PATH"
export SLS_TELEMETRY_DISABLED=1 SLS_NOTIFICATIONS_MODE=off
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
status=0
lint() {
  local name="$1"; shift
  osls package --package "$out/$name" "$@" >"$out/$name.log" 2>&1 || { cat "$out/$name.log"; return 1; }
  local findings
  # cfn-lint exits non-zero for warnings too; the findings are judged below.
  findings="$(cfn-lint --format parseable "$out/$name/cloudformation-template-update-stack.json" \
    "$out/$name/cloudformation-template-create-stack.json" || true)"
  local others
  others="$(grep -v ':W3005:' <<<"$findings" | grep -v '^$' || true)"
  echo "cfn-lint ($name): $(grep -c ':W3005:' <<<"$findings" || true) x W3005 (allowed), $(grep -c . <<<"$others" || true) other finding(s)"
  if [ -n "$others" ]; then echo "$others"; status=1; fi
}
lint default
lint existing-bucket-kms-topic-secretsmanager \
  --param="existingBucket=true" --param="bucketName=acme-clips-prod" \
  --param="bucketKmsKeyArn=arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab" \
  --param="alarmTopicArn=arn:aws:sns:us-east-1:123456789012:clip-relay-alarms" \
  --param="tokenSource=secretsmanager"
exit "$status"

#!/usr/bin/env bash
# `make deploy`: build the three functions (arm64, cargo lambda via SAM) and
# deploy infra/template.yaml into the AWS account of the current credentials.
#
# The first deploy of an environment runs `sam deploy --guided`: SAM asks for
# the region and the template parameters (AlarmEmail, RunDeadlineSecs, ...) and
# saves the answers in infra/samconfig.toml; later deploys reuse them. Then it
# prints how to put the two secrets and upload the config.
#
# Needs: AWS credentials (aws configure / SSO / env) and a Rust toolchain.
# The SAM CLI and cargo-lambda (it brings zig for the arm64 cross-build) come
# from PyPI into a venv of this project's own, .local/venv/deploy (pinned in
# infra/requirements.txt, created once by scripts/venv.sh), never into the
# machine's Python. Docker is not needed.
#
# Knobs: DEPLOY_ENV (samconfig environment, default "default"); any arguments
# are passed to `sam deploy` (e.g. --no-confirm-changeset,
# --parameter-overrides AlarmEmail=ops@example.com).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
INFRA="$REPO/infra"
DEPLOY_ENV="${DEPLOY_ENV:-default}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$("$REPO/scripts/target-dir.sh")}"
# rust-cargolambda was a beta build method before SAM CLI made it GA.
export SAM_CLI_BETA_RUST_CARGO_LAMBDA=1

die() { printf 'deploy: error: %s\n' "$*" >&2; exit 1; }

VENV="$("$REPO/scripts/venv.sh" deploy "$INFRA/requirements.txt")" || die "could not create the deploy venv"
# sam runs `cargo lambda build`: the venv's cargo-lambda must come first for it.
export PATH="$VENV/bin:$PATH"
PY="$VENV/bin/python3"

# samconfig value for [$DEPLOY_ENV.<section>.parameters] <key>, or empty.
samconfig() {
  "$PY" - "$INFRA/samconfig.toml" "$DEPLOY_ENV" "$1" "$2" <<'PY'
import sys, tomllib
path, env, section, key = sys.argv[1:]
try:
    with open(path, "rb") as f:
        cfg = tomllib.load(f)
except FileNotFoundError:
    cfg = {}
for sec in (section, "global"):
    value = cfg.get(env, {}).get(sec, {}).get("parameters", {}).get(key)
    if value is not None:
        print(value)
        break
PY
}

cd "$INFRA"
echo "deploy: sam build (cargo lambda build --release --arm64; CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
sam build --config-env "$DEPLOY_ENV"

# A region in samconfig means a guided deploy already recorded this env's answers.
if [[ -z $(samconfig deploy region) ]]; then
  echo "deploy: first deploy of environment '$DEPLOY_ENV': sam deploy --guided (answers are saved to infra/samconfig.toml)"
  sam deploy --guided --config-env "$DEPLOY_ENV" "$@"
else
  sam deploy --config-env "$DEPLOY_ENV" "$@"
fi

STACK="$(samconfig deploy stack_name)"
STACK="${STACK:-backflow}"
REGION="$(samconfig deploy region)"

# Outputs of the stack, for the instructions below (placeholders when unavailable).
outputs=$(sam list stack-outputs --stack-name "$STACK" ${REGION:+--region "$REGION"} --output json 2>/dev/null || echo '[]')
output() {
  "$PY" -c 'import json,sys
for o in json.loads(sys.argv[1] or "[]"):
    if o.get("OutputKey") == sys.argv[2]:
        print(o.get("OutputValue", "")); break
else:
    print(sys.argv[3])' "$outputs" "$1" "$2"
}
API_URL=$(output ApiUrl "https://<api-id>.execute-api.<region>.amazonaws.com")
BUCKET=$(output BucketName "<BucketName output>")
CONFIG_URI=$(output ConfigUri "s3://$BUCKET/config/backflow.yaml")
INTERCOM_SECRET=$(output IntercomSecretArn "backflow/intercom")
WAREHOUSE_SECRET=$(output WarehouseSecretArn "backflow/warehouse")
REGION_OPT=${REGION:+ --region $REGION}

cat <<EOF

deploy: stack '$STACK' is deployed. Next steps:

1. Put the Intercom access token into its secret:
     aws secretsmanager put-secret-value$REGION_OPT --secret-id '$INTERCOM_SECRET' \\
       --secret-string '{"access_token":"..."}'

2. Put the warehouse URL into its secret (PostgreSQL / Redshift / MySQL):
     aws secretsmanager put-secret-value$REGION_OPT --secret-id '$WAREHOUSE_SECRET' \\
       --secret-string '{"url":"postgres://user:password@host:5432/db"}'

3. Upload the config (drop base_url, set region: us|eu|au) and any model files:
     aws s3 cp backflow.yaml '$CONFIG_URI'$REGION_OPT
     aws s3 cp models/ 's3://$BUCKET/config/models/' --recursive$REGION_OPT

4. Call the API (IAM auth, SigV4 for service execute-api), e.g. with awscurl:
     awscurl --service execute-api${REGION:+ --region $REGION} '$API_URL/syncs'
     awscurl --service execute-api${REGION:+ --region $REGION} -X POST -d '{}' '$API_URL/syncs/<sync>/runs'

See infra/README.md for costs, alarms and the dead-letter queue.
EOF

"""Checks on infra/template.yaml and the local stack built from it.

- scripts/local_resources.py apply, run against a fresh moto server, creates
  tables, bucket and secrets whose definitions match the template (key schemas,
  attribute definitions, indexes, TTL, billing mode, lifecycle rules);
- it follows the template: a renamed key or a new index in a copy of the
  template changes the local tables, and a second run changes nothing;
- the functions' environment of the local stack (local_resources.py env) is the
  template's, pointed at the local resources, plus only the local-only
  variables; a variable added to the template reaches it; the `cargo lambda
  watch` command comes from the same venv;
- cfn-lint and checkov pass on the template.

moto is started the one way every test and the local stack start it
(scripts/moto_server.py on a port of its choosing); the tools are those of the
venv running these tests. Nothing here skips: a missing tool is a failure.

Run: python -m pytest tests/python/test_infra.py   (with the project's Python)
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "infra" / "template.yaml"
SCRIPT = REPO / "scripts" / "local_resources.py"
MOTO = REPO / "scripts" / "moto_server.py"

sys.path.insert(0, str(REPO / "scripts"))
import cfn_template  # noqa: E402
import local_functions  # noqa: E402
from venv_tools import TOOLS, venv_tool  # noqa: E402

REGION = "us-east-1"


# ---------------------------------------------------------------- fixtures --


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory):
    port_file = tmp_path_factory.mktemp("moto") / "port"
    log = open(port_file.with_name("moto.log"), "w")
    proc = subprocess.Popen([sys.executable, str(MOTO), "-p", "0", "--port-file", str(port_file)],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists():
            assert proc.poll() is None, f"moto exited: {port_file.with_name('moto.log').read_text()}"
            assert time.monotonic() < deadline, "moto did not listen within 60 s"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{int(port_file.read_text())}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def aws_env():
    env = dict(os.environ)
    env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_REGION=REGION,
               AWS_DEFAULT_REGION=REGION)
    for k in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        env.pop(k, None)
    return env


def _client(service: str, endpoint: str):
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id="test", aws_secret_access_key="test")


def _run(env: dict | None, *args: str) -> str:
    proc = subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _run_script(endpoint: str, env: dict, *args: str) -> str:
    return _run(env, "apply", "--endpoint", endpoint, *args)


@pytest.fixture(scope="module")
def created(moto_endpoint, aws_env):
    out = _run_script(moto_endpoint, aws_env, "--intercom-token", "tok-123",
                      "--warehouse-url", "postgres://u:p@db/x")
    return moto_endpoint, out


@pytest.fixture(scope="module")
def template():
    return cfn_template.load_template(TEMPLATE)


def _param_default(template: dict, value):
    """A template value that may be a !Ref to a parameter -> its default."""
    if isinstance(value, dict) and "Ref" in value:
        return template["Parameters"][value["Ref"]]["Default"]
    return value


def _table_resource(template: dict, env_var: str) -> dict:
    ref = template["Globals"]["Function"]["Environment"]["Variables"][env_var]["Ref"]
    res = template["Resources"][ref]
    assert res["Type"] == "AWS::DynamoDB::Table"
    return res["Properties"]


# ------------------------------------------------------------------ tables --


@pytest.mark.parametrize("env_var,local_name", [
    ("BACKFLOW_STATE_TABLE", "backflow-state"),
    ("BACKFLOW_RUNS_TABLE", "backflow-runs"),
])
def test_table_matches_template(created, template, env_var, local_name):
    endpoint, _ = created
    props = _table_resource(template, env_var)
    ddb = _client("dynamodb", endpoint)
    table = ddb.describe_table(TableName=local_name)["Table"]

    assert table["KeySchema"] == props["KeySchema"]
    assert sorted(table["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == \
        sorted(props["AttributeDefinitions"], key=lambda a: a["AttributeName"])
    assert table["BillingModeSummary"]["BillingMode"] == props["BillingMode"]

    for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        want = {i["IndexName"]: i for i in props.get(kind, [])}
        have = {i["IndexName"]: i for i in table.get(kind, [])}
        assert have.keys() == want.keys(), kind
        for name, idx in want.items():
            assert have[name]["KeySchema"] == idx["KeySchema"]
            assert have[name]["Projection"]["ProjectionType"] == idx["Projection"]["ProjectionType"]

    ttl = ddb.describe_time_to_live(TableName=local_name)["TimeToLiveDescription"]
    spec = props.get("TimeToLiveSpecification")
    if spec and spec.get("Enabled"):
        assert ttl["TimeToLiveStatus"] == "ENABLED"
        assert ttl["AttributeName"] == spec["AttributeName"]
    else:
        assert ttl["TimeToLiveStatus"] == "DISABLED"


def test_contract_names(template):
    """The fixed names other code relies on (product contract / brief)."""
    state = _table_resource(template, "BACKFLOW_STATE_TABLE")
    runs = _table_resource(template, "BACKFLOW_RUNS_TABLE")
    for props in (state, runs):
        assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"},
                                      {"AttributeName": "sk", "KeyType": "RANGE"}]
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert props["SSESpecification"]["SSEEnabled"] is True
    assert "TimeToLiveSpecification" not in state
    assert runs["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    for var in ("BACKFLOW_CONFIG", "BACKFLOW_STATE_TABLE", "BACKFLOW_RUNS_TABLE", "BACKFLOW_BUCKET",
                "BACKFLOW_EXTRACT_FUNCTION", "BACKFLOW_LOAD_FUNCTION",
                "BACKFLOW_RUN_DEADLINE_SECS", "RUST_LOG"):
        assert var in env, var
    binaries = {}
    for res in template["Resources"].values():
        if res["Type"] == "AWS::Serverless::Function":
            assert res["Metadata"]["BuildMethod"] == "rust-cargolambda"
            binaries[res["Metadata"]["BuildProperties"]["Binary"]] = res["Properties"]["CodeUri"]
    assert binaries == {"trigger": "../functions/trigger", "extract": "../functions/extract",
                        "load": "../functions/load"}
    for code_uri in binaries.values():
        assert (TEMPLATE.parent / code_uri / "Cargo.toml").is_file()


# ------------------------------------------------------------------ bucket --


def _norm_api_rule(rule: dict) -> dict:
    flt = rule.get("Filter") or {}
    prefix = flt.get("Prefix", rule.get("Prefix", ""))
    exp = rule.get("Expiration") or {}
    return {
        "id": rule.get("ID"),
        "status": rule["Status"],
        "prefix": prefix or "",
        "days": exp.get("Days"),
        "delete_marker": exp.get("ExpiredObjectDeleteMarker"),
        "noncurrent_days": (rule.get("NoncurrentVersionExpiration") or {}).get("NoncurrentDays"),
        "abort_mpu": (rule.get("AbortIncompleteMultipartUpload") or {}).get("DaysAfterInitiation"),
    }


def _norm_cfn_rule(template: dict, rule: dict) -> dict:
    days = _param_default(template, rule.get("ExpirationInDays"))
    return {
        "id": rule.get("Id"),
        "status": rule["Status"],
        "prefix": rule.get("Prefix") or "",
        "days": int(days) if days is not None else None,
        "delete_marker": rule.get("ExpiredObjectDeleteMarker"),
        "noncurrent_days": (rule.get("NoncurrentVersionExpiration") or {}).get("NoncurrentDays"),
        "abort_mpu": (rule.get("AbortIncompleteMultipartUpload") or {}).get("DaysAfterInitiation"),
    }


def test_bucket_matches_template(created, template):
    endpoint, _ = created
    ref = template["Globals"]["Function"]["Environment"]["Variables"]["BACKFLOW_BUCKET"]["Ref"]
    props = template["Resources"][ref]["Properties"]
    s3 = _client("s3", endpoint)
    s3.head_bucket(Bucket="backflow-local")

    want = [_norm_cfn_rule(template, r) for r in props["LifecycleConfiguration"]["Rules"]]
    have = [_norm_api_rule(r) for r in
            s3.get_bucket_lifecycle_configuration(Bucket="backflow-local")["Rules"]]
    assert sorted(have, key=lambda r: r["id"]) == sorted(want, key=lambda r: r["id"])
    # the batches expire (brief: lifecycle expiry on runs/)
    assert any(r["prefix"] == "runs/" and r["days"] for r in want)

    assert s3.get_bucket_versioning(Bucket="backflow-local").get("Status") == \
        props["VersioningConfiguration"]["Status"]
    enc = s3.get_bucket_encryption(Bucket="backflow-local")["ServerSideEncryptionConfiguration"]
    assert enc["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == \
        props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
            "ServerSideEncryptionByDefault"]["SSEAlgorithm"]
    pab = s3.get_public_access_block(Bucket="backflow-local")["PublicAccessBlockConfiguration"]
    assert all(pab.values())


# ------------------------------------------------------------------ topics --


def test_alerts_topic_exists_and_functions_name_it(created, template):
    """The template's SNS topics exist locally, and the functions' alerts variable
    is its topic's ARN (what `!Ref` to a topic is in AWS)."""
    endpoint, _ = created
    arns = {t["TopicArn"] for t in _client("sns", endpoint).list_topics()["Topics"]}
    expected = {}
    for lid, res in template["Resources"].items():
        if res["Type"] == "AWS::SNS::Topic":
            name = res["Properties"]["TopicName"]["Fn::Sub"].replace("${AWS::StackName}", "backflow")
            expected[lid] = f"arn:aws:sns:{REGION}:{cfn_template.ACCOUNT_ID}:{name}"
    assert set(expected.values()) <= arns, (expected, arns)
    declared = template["Globals"]["Function"]["Environment"]["Variables"]
    assert declared["BACKFLOW_ALERTS_TOPIC_ARN"] == {"Ref": "AlertsTopic"}
    env = _function_env("--stack-name", "backflow")
    assert env["BACKFLOW_ALERTS_TOPIC_ARN"] == expected["AlertsTopic"]


# ----------------------------------------------------------------- secrets --


def test_secrets(created):
    endpoint, _ = created
    sm = _client("secretsmanager", endpoint)
    assert sm.get_secret_value(SecretId="backflow/intercom")["SecretString"] == \
        '{"access_token": "tok-123"}'
    assert sm.get_secret_value(SecretId="backflow/warehouse")["SecretString"] == \
        '{"url": "postgres://u:p@db/x"}'


def test_idempotent_and_updates_token(created, aws_env):
    endpoint, _ = created
    out = _run_script(endpoint, aws_env, "--intercom-token", "tok-456")
    assert "created" not in out, out
    assert "WARNING" not in out, out
    sm = _client("secretsmanager", endpoint)
    assert sm.get_secret_value(SecretId="backflow/intercom")["SecretString"] == \
        '{"access_token": "tok-456"}'
    # the warehouse secret is left alone when no URL is given
    assert "postgres://" in sm.get_secret_value(SecretId="backflow/warehouse")["SecretString"]


# ------------------------------------------------- the template is followed --


def test_follows_template_changes(moto_endpoint, aws_env, template, tmp_path):
    """A renamed sort key, a new GSI, a TTL rename and a new lifecycle rule in the
    template reach the local stack (no second copy of the definitions to forget)."""
    changed = copy.deepcopy(template)
    runs_id = template["Globals"]["Function"]["Environment"]["Variables"]["BACKFLOW_RUNS_TABLE"]["Ref"]
    props = changed["Resources"][runs_id]["Properties"]
    props["AttributeDefinitions"] = [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sort", "AttributeType": "S"},
        {"AttributeName": "sync", "AttributeType": "S"},
    ]
    props["KeySchema"] = [{"AttributeName": "pk", "KeyType": "HASH"},
                          {"AttributeName": "sort", "KeyType": "RANGE"}]
    props["GlobalSecondaryIndexes"] = [{
        "IndexName": "by-sync",
        "KeySchema": [{"AttributeName": "sync", "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "KEYS_ONLY"},
    }]
    props["TimeToLiveSpecification"] = {"AttributeName": "ttl", "Enabled": True}
    bucket_id = template["Globals"]["Function"]["Environment"]["Variables"]["BACKFLOW_BUCKET"]["Ref"]
    changed["Resources"][bucket_id]["Properties"]["LifecycleConfiguration"]["Rules"].append(
        {"Id": "tmp", "Status": "Enabled", "Prefix": "tmp/", "ExpirationInDays": 1})

    path = tmp_path / "template.yaml"
    path.write_text(_dump_cfn(changed))
    common = ["--state-table", "follow-state", "--bucket", "follow-bucket",
              "--intercom-token", "tok-follow"]
    env = aws_env
    _run_script(moto_endpoint, env, "--template", str(path), "--runs-table", "follow-runs", *common)

    ddb = _client("dynamodb", moto_endpoint)
    table = ddb.describe_table(TableName="follow-runs")["Table"]
    assert table["KeySchema"][1]["AttributeName"] == "sort"
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["by-sync"]
    assert ddb.describe_time_to_live(TableName="follow-runs")["TimeToLiveDescription"][
        "AttributeName"] == "ttl"
    rules = _client("s3", moto_endpoint).get_bucket_lifecycle_configuration(
        Bucket="follow-bucket")["Rules"]
    assert "tmp" in {r["ID"] for r in rules}

    # A table built from the old template is re-created when the key changes.
    _run_script(moto_endpoint, env, "--runs-table", "follow-runs2", *common)
    out = _run_script(moto_endpoint, env, "--template", str(path), "--runs-table", "follow-runs2",
                      *common)
    assert "re-creating" in out
    table = ddb.describe_table(TableName="follow-runs2")["Table"]
    assert table["KeySchema"][1]["AttributeName"] == "sort"
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["by-sync"]
    assert ddb.describe_time_to_live(TableName="follow-runs2")["TimeToLiveDescription"][
        "AttributeName"] == "ttl"


class _CfnDumper(yaml.SafeDumper):
    pass


def _dump_cfn(data: dict) -> str:
    """Dump the long-form template ({"Ref": ..}, {"Fn::Sub": ..}) as plain YAML,
    which CloudFormation (and the loader) read the same way as short tags."""
    return yaml.dump(data, Dumper=_CfnDumper, sort_keys=False)


# ---------------------------------------------- the functions' environment --

ENV_ARGS = ("--endpoint", "http://127.0.0.1:5001", "--lambda-url", "http://127.0.0.1:9001",
            "--config", "/tmp/backflow.yaml", "--state-table", "st", "--runs-table", "rt",
            "--bucket", "bk")


def _function_env(*args: str, template: Path = TEMPLATE) -> dict[str, str]:
    pairs = json.loads(_run(None, "env", "--template", str(template), *ENV_ARGS, "--json", *args))
    assert len({k for k, _ in pairs}) == len(pairs), f"a variable twice: {pairs}"
    return dict(pairs)


def _functions(template: dict) -> dict[str, str]:
    """FunctionName (as the template's default stack names it) -> binary."""
    out = {}
    for res in template["Resources"].values():
        if res["Type"] == "AWS::Serverless::Function":
            name = res["Properties"]["FunctionName"]["Fn::Sub"].replace("${AWS::StackName}", "backflow")
            out[name] = res["Metadata"]["BuildProperties"]["Binary"]
    return out


def test_local_function_env_is_the_templates(template):
    """Every variable the template gives the functions, pointed at the local
    resources, plus the local-only ones and nothing else."""
    env = _function_env()
    declared = template["Globals"]["Function"]["Environment"]["Variables"]
    assert set(env) == set(declared) | set(local_functions.LOCAL_ONLY), set(env) ^ set(declared)
    local_names = {"StateTable": "st", "RunsTable": "rt", "Bucket": "bk"}
    functions = _functions(template)
    for var, value in declared.items():
        if var == "BACKFLOW_CONFIG":
            assert env[var] == "/tmp/backflow.yaml"  # a local file instead of the S3 object
        elif isinstance(value, dict) and value.get("Ref") in local_names:
            assert env[var] == local_names[value["Ref"]], var
        elif isinstance(value, dict) and value.get("Ref") in template["Resources"]:
            # a topic: its ARN (test_alerts_topic_exists_and_functions_name_it)
            assert env[var].startswith("arn:aws:sns:"), (var, env[var])
        elif isinstance(value, dict) and "Fn::Sub" in value:  # a function's name -> its binary
            assert env[var] == functions[value["Fn::Sub"].replace("${AWS::StackName}", "backflow")]
        else:
            assert env[var] == str(_param_default(template, value)), var
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5001"
    assert env["AWS_ENDPOINT_URL_LAMBDA"] == "http://127.0.0.1:9001"
    assert env["BACKFLOW_LOCAL_INVOKE"] == "detach"
    assert set(functions.values()) == {"trigger", "extract", "load"}


def test_local_function_env_follows_the_template(template, tmp_path):
    """A variable added to (or changed in) the template reaches the local
    functions, with no second list to update; one the local stack cannot
    resolve stops it with the variable named."""
    changed = copy.deepcopy(template)
    variables = changed["Globals"]["Function"]["Environment"]["Variables"]
    variables["BACKFLOW_NEW_KNOB"] = {"Ref": "BatchRetentionDays"}
    variables["RUST_LOG"] = "debug"
    path = tmp_path / "template.yaml"
    path.write_text(_dump_cfn(changed))
    env = _function_env(template=path)
    assert env["BACKFLOW_NEW_KNOB"] == str(template["Parameters"]["BatchRetentionDays"]["Default"])
    assert env["RUST_LOG"] == "debug"

    variables["BACKFLOW_QUEUE_ARN"] = {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    path.write_text(_dump_cfn(changed))
    proc = subprocess.run([sys.executable, str(SCRIPT), "env", "--template", str(path), *ENV_ARGS],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "BACKFLOW_QUEUE_ARN" in proc.stderr, proc.stderr


def test_local_function_env_overrides_and_env_file(tmp_path):
    env_file = tmp_path / "functions.env"
    env = _function_env("--set", "BACKFLOW_RUN_DEADLINE_SECS=5", "--set",
                        "BACKFLOW_INTERCOM_REGION_URLS=us=http://a,eu=http://b",
                        "--env-file", str(env_file))
    assert env["BACKFLOW_RUN_DEADLINE_SECS"] == "5"
    lines = env_file.read_text().splitlines()
    assert "BACKFLOW_RUN_DEADLINE_SECS=5" in lines
    # `=` and `,` in a value: quoted, so the dotenv reader keeps it whole.
    assert "BACKFLOW_INTERCOM_REGION_URLS='us=http://a,eu=http://b'" in lines
    assert len(lines) == len(env)


def test_watch_command_comes_from_the_venv(tmp_path):
    cmd = json.loads(_run(None, "watch", "--port", "9123", "--env-file", str(tmp_path / "f.env"),
                          "--json"))
    assert cmd[0] == str(TOOLS / "cargo-lambda") and os.access(cmd[0], os.X_OK)
    assert cmd[1:3] == ["lambda", "watch"]
    flags = " ".join(cmd[3:])
    for part in ("--invoke-address 127.0.0.1", "--invoke-port 9123",
                 f"--env-file {tmp_path / 'f.env'}", "--concurrency 4", "--ignore-changes"):
        assert part in flags, flags
    assert "CARGO_TARGET_DIR" not in flags, flags
    # Given the workspace's target dir, the functions build beside the tests'
    # build, not in it (cargo-lambda's environment rebuilds ring & co. in place).
    cmd = json.loads(_run(None, "watch", "--port", "9123", "--env-file", str(tmp_path / "f.env"),
                          "--target-dir", str(tmp_path / "t"), "--json"))
    assert cmd[:2] == ["env", f"CARGO_TARGET_DIR={tmp_path / 't' / 'lambda-watch'}"], cmd
    assert cmd[2] == str(TOOLS / "cargo-lambda"), cmd


# ----------------------------------------------------------------- linters --


def test_cfn_lint_passes():
    proc = subprocess.run([venv_tool("cfn-lint"), str(TEMPLATE)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_checkov_passes():
    proc = subprocess.run(
        [venv_tool("checkov"), "-f", str(TEMPLATE), "--framework", "cloudformation",
         "--skip-download", "--quiet", "--compact"],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "Failed checks: 0" in proc.stdout, proc.stdout[-4000:]


def test_every_checkov_skip_has_a_reason(template):
    for lid, res in template["Resources"].items():
        for skip in ((res.get("Metadata") or {}).get("checkov") or {}).get("skip", []):
            assert skip["id"].startswith("CKV"), lid
            assert len(skip.get("comment", "")) > 20, f"{lid} {skip['id']} has no reason"

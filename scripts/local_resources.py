#!/usr/bin/env python3
"""The local stack from infra/template.yaml: one definition, used by
scripts/local-up.sh and by the scenario harness (tests/scenarios/src/stack.rs).

  apply  create backflow's tables, bucket and secrets on a moto server
  env    the functions' environment (prints it; --env-file writes it for
         `cargo lambda watch`)
  watch  the `cargo lambda watch` command serving the three functions
  warm   wait until the functions answer (each compiles on its first invoke)

`apply` reads the DynamoDB tables (key schema, attribute definitions, GSIs/LSIs,
billing mode, TTL attribute, PITR, SSE), the bucket (versioning, encryption,
public access block, lifecycle rules) and the two secrets from the SAM
template, not restated here, so renaming a key or changing a rule in the
template changes the local stack too. Which table is which comes from the
functions' environment in the template (BACKFLOW_STATE_TABLE: !Ref StateTable).
It is idempotent: existing resources are kept and brought in line with the
template (TTL, GSIs, billing mode, lifecycle, secret values). A table whose key
schema or local indexes differ cannot be altered in DynamoDB; it is dropped and
re-created (local data is disposable), with a warning.

`env`, `watch` and `warm` are in local_functions.py. Run with the project's
Python (scripts/python.sh): `watch` names the cargo-lambda of that venv, and
`apply` needs boto3.

Usage:
  local_resources.py apply [--endpoint URL] [NAMES] [--intercom-token TOKEN]
      [--warehouse-url URL]
  local_resources.py env --endpoint URL --lambda-url URL --config PATH [NAMES]
      [--set VAR=VALUE]... [--env-file PATH] [--json]
  local_resources.py watch --port PORT --env-file PATH [--concurrency N] [--target-dir DIR]
      [--release] [--reload] [--json]
  local_resources.py warm --lambda-url URL --log PATH [--pid PID]
      [--timeout SECS] [--require-function-url]
NAMES: [--template PATH] [--stack-name NAME] [--state-table NAME]
      [--runs-table NAME] [--bucket NAME]   (defaults: the template's names for
      stack "backflow", bucket "backflow-local")
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import local_functions
from cfn_template import DEFAULT_STACK_NAME, REGION, TEMPLATE, StackModel, load_template

DEFAULT_ENDPOINT = "http://127.0.0.1:5000"

# --------------------------------------------------------------------------
# CloudFormation properties -> AWS API parameters


def _throughput(pt: dict | None) -> dict | None:
    if not pt:
        return None
    return {"ReadCapacityUnits": int(pt["ReadCapacityUnits"]),
            "WriteCapacityUnits": int(pt["WriteCapacityUnits"])}


def _index(idx: dict, billing: str) -> dict:
    out = {"IndexName": idx["IndexName"], "KeySchema": idx["KeySchema"],
           "Projection": idx.get("Projection") or {"ProjectionType": "ALL"}}
    if billing == "PROVISIONED" and idx.get("ProvisionedThroughput"):
        out["ProvisionedThroughput"] = _throughput(idx["ProvisionedThroughput"])
    return out


def create_table_args(name: str, props: dict) -> dict:
    billing = props.get("BillingMode", "PROVISIONED")
    args: dict[str, Any] = {
        "TableName": name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": billing,
    }
    if billing == "PROVISIONED":
        args["ProvisionedThroughput"] = _throughput(props["ProvisionedThroughput"])
    if props.get("GlobalSecondaryIndexes"):
        args["GlobalSecondaryIndexes"] = [_index(i, billing) for i in props["GlobalSecondaryIndexes"]]
    if props.get("LocalSecondaryIndexes"):
        args["LocalSecondaryIndexes"] = [
            {k: v for k, v in _index(i, billing).items() if k != "ProvisionedThroughput"}
            for i in props["LocalSecondaryIndexes"]]
    sse = props.get("SSESpecification")
    if sse and sse.get("SSEEnabled"):
        args["SSESpecification"] = {"Enabled": True}
    stream = props.get("StreamSpecification")
    if stream:
        args["StreamSpecification"] = {"StreamEnabled": True,
                                       "StreamViewType": stream["StreamViewType"]}
    return args


def lifecycle_rules(props: dict) -> list[dict]:
    """AWS::S3::Bucket LifecycleConfiguration.Rules -> PutBucketLifecycleConfiguration rules."""
    rules = []
    for r in (props.get("LifecycleConfiguration") or {}).get("Rules") or []:
        rule: dict[str, Any] = {"Status": r["Status"]}
        if "Id" in r:
            rule["ID"] = r["Id"]
        conds: dict[str, Any] = {}
        if r.get("Prefix") is not None:
            conds["Prefix"] = r["Prefix"]
        if r.get("TagFilters"):
            conds["Tags"] = [{"Key": t["Key"], "Value": t["Value"]} for t in r["TagFilters"]]
        for k in ("ObjectSizeGreaterThan", "ObjectSizeLessThan"):
            if r.get(k) is not None:
                conds[k] = int(r[k])
        if len(conds) > 1 or "Tags" in conds and len(conds["Tags"]) > 1:
            rule["Filter"] = {"And": conds}
        elif "Tags" in conds:
            rule["Filter"] = {"Tag": conds["Tags"][0]}
        elif conds:
            rule["Filter"] = conds
        else:
            rule["Filter"] = {"Prefix": ""}
        expiration: dict[str, Any] = {}
        if r.get("ExpirationInDays") is not None:
            expiration["Days"] = int(r["ExpirationInDays"])
        if r.get("ExpirationDate"):
            expiration["Date"] = r["ExpirationDate"]
        if r.get("ExpiredObjectDeleteMarker") is not None:
            expiration["ExpiredObjectDeleteMarker"] = bool(r["ExpiredObjectDeleteMarker"])
        if expiration:
            rule["Expiration"] = expiration
        nve = r.get("NoncurrentVersionExpiration")
        if nve:
            rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(nve["NoncurrentDays"])}
            if nve.get("NewerNoncurrentVersions") is not None:
                rule["NoncurrentVersionExpiration"]["NewerNoncurrentVersions"] = int(
                    nve["NewerNoncurrentVersions"])
        elif r.get("NoncurrentVersionExpirationInDays") is not None:
            rule["NoncurrentVersionExpiration"] = {
                "NoncurrentDays": int(r["NoncurrentVersionExpirationInDays"])}
        if r.get("AbortIncompleteMultipartUpload"):
            rule["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": int(
                r["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])}
        if r.get("Transitions"):
            rule["Transitions"] = [{"Days": int(t["TransitionInDays"]), "StorageClass": t["StorageClass"]}
                                   for t in r["Transitions"] if "TransitionInDays" in t]
        if r.get("NoncurrentVersionTransitions"):
            rule["NoncurrentVersionTransitions"] = [
                {"NoncurrentDays": int(t["TransitionInDays"]), "StorageClass": t["StorageClass"]}
                for t in r["NoncurrentVersionTransitions"]]
        rules.append(rule)
    return rules


# --------------------------------------------------------------------------
# Applying to moto


def log(msg: str) -> None:
    print(f"local_resources: {msg}", flush=True)


def _key_schema(ks: list[dict]) -> list[tuple[str, str]]:
    return [(k["AttributeName"], k["KeyType"]) for k in ks]


def _lsi_signature(indexes: list[dict] | None) -> set:
    return {(i["IndexName"], tuple(_key_schema(i["KeySchema"]))) for i in indexes or []}


def ensure_table(ddb, name: str, props: dict) -> None:
    args = create_table_args(name, props)
    try:
        current = ddb.describe_table(TableName=name)["Table"]
    except ddb.exceptions.ResourceNotFoundException:
        current = None

    if current is not None and (
        _key_schema(current["KeySchema"]) != _key_schema(args["KeySchema"])
        or _lsi_signature(current.get("LocalSecondaryIndexes"))
        != _lsi_signature(args.get("LocalSecondaryIndexes"))
    ):
        log(f"WARNING: table {name} has a different key schema or local indexes than "
            f"the template; dropping and re-creating it (local data is lost)")
        ddb.delete_table(TableName=name)
        ddb.get_waiter("table_not_exists").wait(TableName=name,
                                                 WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        current = None

    if current is None:
        ddb.create_table(**args)
        ddb.get_waiter("table_exists").wait(TableName=name,
                                            WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        log(f"created table {name}")
    else:
        billing = (current.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
        if billing != args["BillingMode"]:
            upd: dict[str, Any] = {"TableName": name, "BillingMode": args["BillingMode"]}
            if args["BillingMode"] == "PROVISIONED":
                upd["ProvisionedThroughput"] = args["ProvisionedThroughput"]
            ddb.update_table(**upd)
            log(f"table {name}: billing mode -> {args['BillingMode']}")
        want = {i["IndexName"]: i for i in args.get("GlobalSecondaryIndexes", [])}
        have = {i["IndexName"]: i for i in current.get("GlobalSecondaryIndexes", [])}
        for gone in have.keys() - want.keys():
            ddb.update_table(TableName=name,
                             GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": gone}}])
            log(f"table {name}: dropped index {gone}")
        for idx_name, idx in want.items():
            old = have.get(idx_name)
            if old is not None and _key_schema(old["KeySchema"]) == _key_schema(idx["KeySchema"]) \
                    and old.get("Projection", {}).get("ProjectionType") == idx["Projection"]["ProjectionType"]:
                continue
            if old is not None:
                ddb.update_table(TableName=name,
                                 GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": idx_name}}])
            ddb.update_table(TableName=name, AttributeDefinitions=args["AttributeDefinitions"],
                             GlobalSecondaryIndexUpdates=[{"Create": idx}])
            log(f"table {name}: (re)created index {idx_name}")
        log(f"table {name} exists")

    ttl = props.get("TimeToLiveSpecification")
    desc = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    enabled = desc.get("TimeToLiveStatus") in ("ENABLED", "ENABLING")
    if ttl and ttl.get("Enabled"):
        if not enabled or desc.get("AttributeName") != ttl["AttributeName"]:
            if enabled:  # DynamoDB allows one TTL attribute: turn the old one off first
                ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
                    "Enabled": False, "AttributeName": desc["AttributeName"]})
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
                "Enabled": True, "AttributeName": ttl["AttributeName"]})
            log(f"table {name}: TTL on attribute {ttl['AttributeName']}")
    elif enabled:
        ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
            "Enabled": False, "AttributeName": desc["AttributeName"]})
        log(f"table {name}: TTL off")

    pitr = (props.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled")
    if pitr:
        try:
            ddb.update_continuous_backups(
                TableName=name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
        except Exception as e:  # cosmetic locally; never fail the stack for it
            log(f"table {name}: PITR not set ({e})")


def ensure_bucket(s3, name: str, props: dict) -> None:
    try:
        s3.head_bucket(Bucket=name)
        log(f"bucket {name} exists")
    except s3.exceptions.ClientError:
        s3.create_bucket(Bucket=name)
        log(f"created bucket {name}")

    versioning = (props.get("VersioningConfiguration") or {}).get("Status")
    if versioning:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": versioning})

    enc = (props.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration")
    if enc:
        rules = []
        for r in enc:  # CFN says ServerSideEncryptionByDefault, the API ApplyServerSideEncryptionByDefault
            rule: dict[str, Any] = {}
            if r.get("ServerSideEncryptionByDefault"):
                rule["ApplyServerSideEncryptionByDefault"] = r["ServerSideEncryptionByDefault"]
            if r.get("BucketKeyEnabled") is not None:
                rule["BucketKeyEnabled"] = bool(r["BucketKeyEnabled"])
            rules.append(rule)
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})

    pab = props.get("PublicAccessBlockConfiguration")
    if pab:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
            k: bool(v) for k, v in pab.items()})

    rules = lifecycle_rules(props)
    if rules:
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": rules})
        log(f"bucket {name}: {len(rules)} lifecycle rule(s): "
            + ", ".join(r.get("ID", "?") for r in rules))
    else:
        try:
            s3.delete_bucket_lifecycle(Bucket=name)
        except s3.exceptions.ClientError:
            pass


def ensure_secret(sm, name: str, value: dict) -> None:
    body = json.dumps(value)
    try:
        current = sm.get_secret_value(SecretId=name)["SecretString"]
    except sm.exceptions.ResourceNotFoundException:
        sm.create_secret(Name=name, SecretString=body)
        log(f"created secret {name}")
        return
    if current != body:
        sm.put_secret_value(SecretId=name, SecretString=body)
        log(f"secret {name}: new value stored")
    else:
        log(f"secret {name} is up to date")


def ensure_topic(sns, name: str) -> None:
    # CreateTopic is idempotent: the same name answers the same ARN.
    arn = sns.create_topic(Name=name)["TopicArn"]
    log(f"topic {arn}")


# --------------------------------------------------------------------------
# Command line


def model_for(args: argparse.Namespace) -> StackModel:
    """The template with the tables and the bucket named as the arguments say."""
    model = StackModel(load_template(args.template), args.stack_name)
    model.name_resources(args.state_table, args.runs_table, args.bucket)
    return model


def cmd_apply(args: argparse.Namespace) -> int:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    import boto3  # imported late: the other commands do not need it

    model = model_for(args)
    names = model.resolver.resources
    kw = {"endpoint_url": args.endpoint, "region_name": REGION}
    ddb = boto3.client("dynamodb", **kw)
    s3 = boto3.client("s3", **kw)
    sm = boto3.client("secretsmanager", **kw)

    for var in ("BACKFLOW_STATE_TABLE", "BACKFLOW_RUNS_TABLE"):
        ensure_table(ddb, names[model.logical_id_for_env(var)], model.table(var))
    ensure_bucket(s3, names[model.logical_id_for_env("BACKFLOW_BUCKET")], model.bucket())
    sns = boto3.client("sns", **kw)
    for props in model.topics().values():
        ensure_topic(sns, props["TopicName"])

    secrets = model.secrets()
    ensure_secret(sm, secrets["intercom"]["Name"], {"access_token": args.intercom_token})
    if args.warehouse_url:
        ensure_secret(sm, secrets["warehouse"]["Name"], {"url": args.warehouse_url})
    return 0


def _assignment(text: str) -> tuple[str, str]:
    var, sep, value = text.partition("=")
    if not sep or not var:
        raise argparse.ArgumentTypeError(f"expected VAR=VALUE, got {text!r}")
    return var, value


def cmd_env(args: argparse.Namespace) -> int:
    env = local_functions.function_env(model_for(args), endpoint=args.endpoint,
                                       lambda_url=args.lambda_url, config=args.config,
                                       overrides=args.set)
    if args.env_file is not None:
        args.env_file.write_text(local_functions.dotenv(env), encoding="utf-8")
    sys.stdout.write(json.dumps(env) + "\n" if args.json else local_functions.dotenv(env))
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    cmd = local_functions.watch_command(port=args.port, env_file=args.env_file,
                                        concurrency=args.concurrency, release=args.release,
                                        reload=args.reload, target_dir=args.target_dir)
    print(json.dumps(cmd) if args.json else "\n".join(cmd))
    return 0


def cmd_warm(args: argparse.Namespace) -> int:
    try:
        out = local_functions.warm(args.lambda_url, args.log, args.pid, args.timeout)
    except local_functions.WarmError as e:
        print(f"local_resources warm: {e}", file=sys.stderr)
        return 1
    print(json.dumps(out))
    problem = out["function_url_problem"]
    if problem and args.require_function_url:
        print(f"local_resources warm: the function URL does not work: {problem}", file=sys.stderr)
        return 1
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    names = argparse.ArgumentParser(add_help=False)
    names.add_argument("--template", type=Path, default=TEMPLATE)
    names.add_argument("--stack-name", default=DEFAULT_STACK_NAME,
                       help="substituted for ${AWS::StackName} in the template's names")
    names.add_argument("--state-table")
    names.add_argument("--runs-table")
    names.add_argument("--bucket")

    a = sub.add_parser("apply", parents=[names], help="tables, bucket and secrets on moto")
    a.add_argument("--endpoint", default=DEFAULT_ENDPOINT, help="moto (default %(default)s)")
    a.add_argument("--intercom-token", default="local-token")
    a.add_argument("--warehouse-url", help="stored in the warehouse secret when given")
    a.set_defaults(run=cmd_apply)

    e = sub.add_parser("env", parents=[names], help="the functions' environment")
    e.add_argument("--endpoint", required=True, help="moto")
    e.add_argument("--lambda-url", required=True, help="cargo lambda watch")
    e.add_argument("--config", required=True, help="the local backflow.yaml")
    e.add_argument("--set", type=_assignment, action="append", default=[], metavar="VAR=VALUE",
                   help="add or replace a variable (repeatable)")
    e.add_argument("--env-file", type=Path, help="also write it here (dotenv)")
    e.add_argument("--json", action="store_true", help='print [["VAR", "VALUE"], ...]')
    e.set_defaults(run=cmd_env)

    w = sub.add_parser("watch", help="the cargo lambda watch command")
    w.add_argument("--port", type=int, required=True)
    w.add_argument("--env-file", type=Path, required=True)
    w.add_argument("--concurrency", type=int, default=local_functions.DEFAULT_CONCURRENCY)
    w.add_argument("--release", action="store_true")
    w.add_argument("--reload", action="store_true", help="rebuild a function when its code changes")
    w.add_argument("--target-dir", type=Path,
                   help="the workspace's cargo target dir: the functions build in its lambda-watch/")
    w.add_argument("--json", action="store_true", help="a JSON array (default: one argument a line)")
    w.set_defaults(run=cmd_watch)

    m = sub.add_parser("warm", help="wait until the three functions answer")
    m.add_argument("--lambda-url", required=True)
    m.add_argument("--log", type=Path, required=True, help="the log of cargo lambda watch")
    m.add_argument("--pid", type=int, help="cargo lambda watch's pid: fail when it exits")
    m.add_argument("--timeout", type=float, default=600)
    m.add_argument("--require-function-url", action="store_true",
                   help="fail when GET /lambda-url/trigger/syncs does not answer 200")
    m.set_defaults(run=cmd_warm)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Create backflow's AWS resources on a local moto server, from infra/template.yaml.

The DynamoDB tables (key schema, attribute definitions, GSIs/LSIs, billing
mode, TTL attribute, PITR, SSE), the bucket (versioning, encryption, public
access block, lifecycle rules) and the two secrets are read from the SAM
template, not restated here, so renaming a key or changing a rule in the
template changes the local stack too. Which table is which comes from the
functions' environment in the template (BACKFLOW_STATE_TABLE: !Ref StateTable).

Idempotent: existing resources are kept and brought in line with the template
(TTL, GSIs, billing mode, lifecycle, secret values). A table whose key schema
or local indexes differ cannot be altered in DynamoDB; it is dropped and
re-created (local data is disposable), with a warning.

Usage:
  python3 scripts/local_resources.py [--endpoint http://127.0.0.1:5000]
      [--state-table NAME] [--runs-table NAME] [--bucket NAME]
      [--intercom-token TOKEN] [--warehouse-url URL]

Environment (used when the option is not given): AWS_ENDPOINT_URL,
BACKFLOW_STATE_TABLE, BACKFLOW_RUNS_TABLE, BACKFLOW_BUCKET,
INTERCOM_ACCESS_TOKEN (default "local-token"), BACKFLOW_WAREHOUSE_URL.
Only the standard library, PyYAML and boto3 are needed (all come with moto).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / "infra" / "template.yaml"

DEFAULT_STACK_NAME = "backflow"
DEFAULT_BUCKET = "backflow-local"
DEFAULT_ENDPOINT = "http://127.0.0.1:5000"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account

# --------------------------------------------------------------------------
# Reading the template


class CfnLoader(yaml.SafeLoader):
    """A YAML loader that turns CloudFormation short tags into their long form.

    `!Ref X` -> {"Ref": "X"}, `!GetAtt A.B` -> {"Fn::GetAtt": ["A", "B"]},
    `!Sub ...`, `!If [...]`, ... -> {"Fn::Sub": ...}, {"Fn::If": [...]}.
    """


def _cfn_tag(loader: CfnLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        return {"Fn::GetAtt": value.split(".", 1)}
    if suffix == "Condition":
        return {"Condition": value}
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template(path: Path = TEMPLATE) -> dict:
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass


class Unresolvable(Exception):
    pass


_NO_VALUE = object()


class Resolver:
    """Evaluates the intrinsic functions the template uses, with parameter defaults."""

    def __init__(self, template: dict, stack_name: str = DEFAULT_STACK_NAME,
                 overrides: dict[str, Any] | None = None):
        self.template = template
        self.params: dict[str, Any] = {}
        for name, spec in (template.get("Parameters") or {}).items():
            if "Default" in spec:
                self.params[name] = spec["Default"]
        self.params.update(overrides or {})
        self.pseudo = {
            "AWS::StackName": stack_name,
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            return self.params[name]
        raise Unresolvable(f"Ref {name}")

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            out = [self.resolve(v) for v in value]
            return [v for v in out if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

                def sub(m: re.Match) -> str:
                    var = m.group(1)
                    if var.startswith("!"):
                        return "${" + var[1:] + "}"
                    if var in extra:
                        return str(self.resolve(extra[var]))
                    return str(self._ref(var))

                return re.sub(r"\$\{([^}]+)\}", sub, text)
            if key == "Fn::If":
                cond, yes, no = arg
                return self.resolve(yes if self.condition(cond) else no)
            if key == "Fn::Equals":
                a, b = (self.resolve(v) for v in arg)
                return str(a) == str(b)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(v) for v in arg)
            if key == "Fn::Or":
                return any(self.resolve(v) for v in arg)
            if key == "Fn::Join":
                sep, items = arg
                return sep.join(str(v) for v in self.resolve(items))
            if key.startswith("Fn::"):
                raise Unresolvable(key)
        out = {}
        for k, v in value.items():
            r = self.resolve(v)
            if r is not _NO_VALUE:
                out[k] = r
        return out


class StackModel:
    """The parts of the template the local stack needs, resolved."""

    def __init__(self, template: dict | None = None, stack_name: str = DEFAULT_STACK_NAME):
        self.template = template if template is not None else load_template()
        self.resolver = Resolver(self.template, stack_name)
        self.resources: dict = self.template["Resources"]
        self.env: dict = (((self.template.get("Globals") or {}).get("Function") or {})
                          .get("Environment") or {}).get("Variables") or {}

    def logical_id_for_env(self, var: str) -> str:
        """BACKFLOW_STATE_TABLE: !Ref StateTable -> "StateTable"."""
        ref = self.env.get(var)
        if not (isinstance(ref, dict) and "Ref" in ref and ref["Ref"] in self.resources):
            raise SystemExit(f"infra/template.yaml: Globals env {var} is not a !Ref to a resource")
        return ref["Ref"]

    def properties(self, logical_id: str) -> dict:
        return self.resolver.resolve(self.resources[logical_id].get("Properties") or {})

    def table(self, env_var: str) -> dict:
        lid = self.logical_id_for_env(env_var)
        if self.resources[lid]["Type"] != "AWS::DynamoDB::Table":
            raise SystemExit(f"infra/template.yaml: {lid} is not a DynamoDB table")
        return self.properties(lid)

    def bucket(self) -> dict:
        lid = self.logical_id_for_env("BACKFLOW_BUCKET")
        return self.properties(lid)

    def secrets(self) -> dict[str, dict]:
        """{"intercom": props, "warehouse": props} keyed by the last part of Name."""
        out = {}
        for lid, res in self.resources.items():
            if res.get("Type") == "AWS::SecretsManager::Secret":
                props = self.properties(lid)
                out[props["Name"].rsplit("/", 1)[-1]] = props
        return out


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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL", DEFAULT_ENDPOINT),
                   help="moto server URL (default: $AWS_ENDPOINT_URL or %(default)s)")
    p.add_argument("--template", type=Path, default=TEMPLATE)
    p.add_argument("--stack-name", default=DEFAULT_STACK_NAME,
                   help="substituted for ${AWS::StackName} in the template's names")
    p.add_argument("--state-table", default=os.environ.get("BACKFLOW_STATE_TABLE"))
    p.add_argument("--runs-table", default=os.environ.get("BACKFLOW_RUNS_TABLE"))
    p.add_argument("--bucket", default=os.environ.get("BACKFLOW_BUCKET", DEFAULT_BUCKET))
    p.add_argument("--intercom-token", default=os.environ.get("INTERCOM_ACCESS_TOKEN", "local-token"))
    p.add_argument("--warehouse-url", default=os.environ.get("BACKFLOW_WAREHOUSE_URL"),
                   help="stored in the warehouse secret when given")
    args = p.parse_args(argv)

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    import boto3  # imported late so --help works without it

    model = StackModel(load_template(args.template), args.stack_name)
    state = model.table("BACKFLOW_STATE_TABLE")
    runs = model.table("BACKFLOW_RUNS_TABLE")
    kw = {"endpoint_url": args.endpoint, "region_name": os.environ.get("AWS_REGION", REGION)}
    ddb = boto3.client("dynamodb", **kw)
    s3 = boto3.client("s3", **kw)
    sm = boto3.client("secretsmanager", **kw)

    ensure_table(ddb, args.state_table or state["TableName"], state)
    ensure_table(ddb, args.runs_table or runs["TableName"], runs)
    ensure_bucket(s3, args.bucket, model.bucket())

    secrets = model.secrets()
    ensure_secret(sm, secrets["intercom"]["Name"], {"access_token": args.intercom_token})
    if args.warehouse_url:
        ensure_secret(sm, secrets["warehouse"]["Name"], {"url": args.warehouse_url})
    return 0


if __name__ == "__main__":
    sys.exit(main())

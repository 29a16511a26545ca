"""The template's optional parts appear exactly when their parameters are set.

Athena, the Redshift Data API (cluster or serverless workgroup), a VPC for
extract and the alerts e-mail are off while their parameters are empty. These
tests take the template after the SAM transform (as cfn-lint and CloudFormation
see it), evaluate it for a set of parameter values (Conditions, Fn::If, Sub,
Join, Split, Select; AWS::NoValue dropped; resources whose Condition is false
left out) and check which IAM statements, VpcConfig and subscriptions result,
with the exact ARNs. `allowed()` evaluates a role's statements the way IAM
does (wildcards, an explicit Deny wins) to show what the list-built ARNs grant.
cfn-lint and checkov are also run on the template with every option set:
checkov does not look into Fn::If branches, so on the template as written it
never sees the conditional policies.

Run: python3 -m pytest tests/python/test_template_options.py
"""

from __future__ import annotations

import copy
import fnmatch
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from venv_tools import venv_tool

cfnlint_decode = pytest.importorskip("cfnlint.decode")
sam_transform = pytest.importorskip("cfnlint.template.transforms._sam")

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "template.yaml"
ACCOUNT, REGION = "123456789012", "us-east-1"
PSEUDO = {"AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": "aws",
          "AWS::StackName": "backflow", "AWS::URLSuffix": "amazonaws.com"}
NO_VALUE = object()
FUNCTIONS = ("TriggerFunction", "ExtractFunction", "LoadFunction")

ATHENA = {"AthenaWorkgroup": "lake", "AthenaResultsLocation": "s3://results-bkt/backflow/",
          "AthenaSourceBuckets": "lake-raw,lake-curated", "GlueDatabases": "analytics,sales"}
CLUSTER = {"RedshiftClusterIdentifier": "analytics", "RedshiftDatabase": "dev"}
WORKGROUP = {"RedshiftWorkgroupId": "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"}
SUBNETS = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
SECURITY_GROUP = "sg-0a1b2c3d4e5f60718"
VPC = {"ExtractSubnetIds": ",".join(SUBNETS), "ExtractSecurityGroupIds": SECURITY_GROUP}
EVERYTHING = {**ATHENA, **CLUSTER, **WORKGROUP, **VPC, "RedshiftDbUser": "backflow",
              "AlertsEmail": "team@example.com", "AlarmEmail": "ops@example.com"}


def _plain(node: Any) -> Any:
    return json.loads(json.dumps(node))


@pytest.fixture(scope="module")
def raw() -> dict:
    template, errors = cfnlint_decode.decode(str(TEMPLATE))
    assert not errors, errors
    return _plain(template)


@pytest.fixture(scope="module")
def transformed(raw) -> dict:
    """The template after the SAM transform, done as cfn-lint does it."""
    transform = sam_transform.Transform(str(TEMPLATE), copy.deepcopy(raw), REGION)
    matches = transform.transform_template()
    assert not matches, matches
    return _plain(transform.template())


# ------------------------------------------------------------- evaluation --


class Stack:
    """`template` evaluated for parameter `values` (defaults otherwise)."""

    def __init__(self, template: dict, values: dict[str, str]):
        self.template = template
        self.params: dict[str, Any] = {}
        for name, spec in template["Parameters"].items():
            value = str(values.get(name, spec.get("Default", "")))
            self.params[name] = value.split(",") if spec["Type"] == "CommaDelimitedList" else value
        unknown = set(values) - set(self.params)
        assert not unknown, f"no such parameters: {unknown}"
        self.conditions: dict[str, bool] = {}
        for name in template.get("Conditions", {}):
            self.condition(name)

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            self.conditions[name] = bool(self.eval(self.template["Conditions"][name]))
        return self.conditions[name]

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.params:
            return self.params[name]
        assert name in self.template["Resources"], f"Ref to unknown {name}"
        return f"<{name}>"

    def _sub(self, arg: Any) -> str:
        text, names = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def one(m: re.Match) -> str:
            var = m.group(1)
            if var.startswith("!"):
                return "${" + var[1:] + "}"
            if var in names:
                return str(self.eval(names[var]))
            return f"<{var}>" if "." in var else str(self._ref(var))

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def _fn(self, key: str, arg: Any) -> Any:
        if key == "Ref":
            return self._ref(arg)
        if key == "Condition":
            return self.condition(arg)
        if key == "Fn::If":
            cond, yes, no = arg
            return self.eval(yes if self.condition(cond) else no)
        if key == "Fn::Sub":
            return self._sub(arg)
        if key == "Fn::GetAtt":
            return "<" + ".".join(arg) + ">"
        args = self.eval(arg)
        simple = {
            "Fn::Equals": lambda a: str(a[0]) == str(a[1]),
            "Fn::Not": lambda a: not a[0],
            "Fn::And": all,
            "Fn::Or": any,
            "Fn::Join": lambda a: a[0].join(str(v) for v in a[1]),
            "Fn::Split": lambda a: a[1].split(a[0]),
            "Fn::Select": lambda a: a[1][int(a[0])],
            "Fn::Contains": lambda a: a[1] in a[0],
        }
        assert key in simple, f"the evaluator does not know {key}"
        return simple[key](args)

    def eval(self, value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in (self.eval(x) for x in value) if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref" or key == "Condition" or key.startswith("Fn::"):
                return self._fn(key, arg)
        out = {k: self.eval(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not NO_VALUE}

    def resources(self) -> dict[str, dict]:
        return {lid: self.eval(res) for lid, res in self.template["Resources"].items()
                if "Condition" not in res or self.condition(res["Condition"])}

    def broken_rules(self) -> list[str]:
        """AssertDescriptions of the Rules these values break."""
        broken = []
        for rule in self.template.get("Rules", {}).values():
            if "RuleCondition" in rule and not self.eval(rule["RuleCondition"]):
                continue
            broken += [a["AssertDescription"] for a in rule["Assertions"]
                       if not self.eval(a["Assert"])]
        return broken


def _as_list(x: Any) -> list:
    return x if isinstance(x, list) else [x]


def _role(resources: dict, function: str) -> dict:
    """The properties of the role `function` runs as ("<XRole.Arn>" once evaluated)."""
    role_id = resources[function]["Properties"]["Role"].strip("<>").split(".")[0]
    return resources[role_id]["Properties"]


def role_statements(resources: dict, function: str) -> list[dict]:
    """Every statement of the role `function` runs as, Sids prefixed by the policy name."""
    out = []
    for policy in _role(resources, function).get("Policies", []):
        for st in policy["PolicyDocument"]["Statement"]:
            out.append(dict(st, Sid=f"{policy['PolicyName']}/{st.get('Sid', '')}"))
    return out


def managed_policies(resources: dict, function: str) -> list[str]:
    return _role(resources, function).get("ManagedPolicyArns", [])


def statement(statements: list[dict], sid: str) -> dict:
    found = [s for s in statements if s["Sid"].endswith("/" + sid)]
    assert len(found) == 1, (sid, [s["Sid"] for s in statements])
    return found[0]


def actions(statements: list[dict]) -> set[str]:
    return {a for s in statements if s["Effect"] == "Allow" for a in _as_list(s["Action"])}


def _matches(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def allowed(statements: list[dict], action: str, arn: str) -> bool:
    """IAM's answer for one action on one ARN (no conditions): Allow unless denied."""
    def hits(st: dict) -> bool:
        if not any(_matches(a, action) for a in _as_list(st["Action"])):
            return False
        if "NotResource" in st:
            return not any(_matches(r, arn) for r in _as_list(st["NotResource"]))
        return any(_matches(r, arn) for r in _as_list(st["Resource"]))

    if any(hits(s) for s in statements if s["Effect"] == "Deny"):
        return False
    return any(hits(s) for s in statements if s["Effect"] == "Allow")


OPTIONAL_PREFIXES = ("athena:", "glue:", "redshift:", "redshift-data:", "redshift-serverless:",
                     "ec2:")


# ------------------------------------------------------------------ tests --


def test_nothing_optional_by_default(transformed):
    stack = Stack(transformed, {})
    assert stack.broken_rules() == []
    res = stack.resources()
    for fn in FUNCTIONS:
        granted = actions(role_statements(res, fn))
        assert not [a for a in granted if a.startswith(OPTIONAL_PREFIXES)], fn
        assert not [m for m in managed_policies(res, fn) if "VPC" in m], fn
    assert [p["PolicyName"] for p in
            res["ExtractFunctionRole"]["Properties"]["Policies"]] == ["extract"]
    assert "VpcConfig" not in res["ExtractFunction"]["Properties"]
    assert "AlertsEmailSubscription" not in res


def test_alerts_topic_for_every_function(transformed):
    res = Stack(transformed, {}).resources()
    topic = res["AlertsTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == "alias/aws/sns"
    for fn in FUNCTIONS:
        env = res[fn]["Properties"]["Environment"]["Variables"]
        assert env["BACKFLOW_ALERTS_TOPIC_ARN"] == "<AlertsTopic>", fn
        publish = [s for s in role_statements(res, fn) if "sns:Publish" in _as_list(s["Action"])]
        assert [s["Resource"] for s in publish] == ["<AlertsTopic>"], fn
    assert transformed["Outputs"]["AlertsTopicArn"]["Value"] == {"Ref": "AlertsTopic"}

    res = Stack(transformed, {"AlertsEmail": "team@example.com"}).resources()
    sub = res["AlertsEmailSubscription"]["Properties"]
    assert sub == {"TopicArn": "<AlertsTopic>", "Protocol": "email", "Endpoint": "team@example.com"}


def test_athena_grants_its_workgroup_catalog_lake_and_results(transformed):
    stack = Stack(transformed, ATHENA)
    assert stack.broken_rules() == []
    res = stack.resources()
    sts = role_statements(res, "ExtractFunction")
    assert statement(sts, "AthenaQueries")["Resource"] == \
        f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/lake"
    assert statement(sts, "GlueTables")["Resource"] == [
        f"arn:aws:glue:{REGION}:{ACCOUNT}:catalog",
        "arn:*:glue:*:*:database/analytics", "arn:*:glue:*:*:database/sales",
        "arn:*:glue:*:*:table/analytics/*", "arn:*:glue:*:*:table/sales/*"]
    assert statement(sts, "LakeFiles")["Resource"] == ["arn:*:s3:::lake-raw/*",
                                                       "arn:*:s3:::lake-curated/*"]
    assert statement(sts, "LakeBuckets")["Resource"] == ["arn:*:s3:::lake-raw",
                                                         "arn:*:s3:::lake-curated"]
    assert statement(sts, "ResultsObjects")["Resource"] == "arn:aws:s3:::results-bkt/backflow/*"
    assert statement(sts, "ResultsBucket")["Resource"] == "arn:aws:s3:::results-bkt"
    granted = actions(sts)
    assert not [a for a in granted if a.startswith(("redshift", "ec2:"))]
    assert {"athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults",
            "athena:StopQueryExecution"} <= granted
    # Only extract runs queries.
    for fn in ("TriggerFunction", "LoadFunction"):
        assert not [a for a in actions(role_statements(res, fn)) if a.startswith(OPTIONAL_PREFIXES)]

    bare = Stack(transformed, {**ATHENA, "AthenaResultsLocation": "s3://results-bkt/"})
    sts = role_statements(bare.resources(), "ExtractFunction")
    assert statement(sts, "ResultsObjects")["Resource"] == "arn:aws:s3:::results-bkt/*"


def test_athena_wildcard_arns_reach_only_this_catalog(transformed):
    """The database and table ARNs built from a list carry wildcards; the Deny
    keeps them to this account and region, and other databases stay out."""
    sts = role_statements(Stack(transformed, ATHENA).resources(), "ExtractFunction")
    table = "arn:aws:glue:{}:{}:table/analytics/orders"
    assert allowed(sts, "glue:GetTable", table.format(REGION, ACCOUNT))
    assert allowed(sts, "glue:GetPartitions", f"arn:aws:glue:{REGION}:{ACCOUNT}:table/sales/x")
    assert allowed(sts, "glue:GetDatabase", f"arn:aws:glue:{REGION}:{ACCOUNT}:database/default")
    assert not allowed(sts, "glue:GetTable", table.format(REGION, "999999999999"))
    assert not allowed(sts, "glue:GetTable", table.format("eu-west-1", ACCOUNT))
    assert not allowed(sts, "glue:GetTable", f"arn:aws:glue:{REGION}:{ACCOUNT}:table/hr/salaries")
    assert not allowed(sts, "glue:GetTable", f"arn:aws:glue:{REGION}:{ACCOUNT}:table/default/t")
    assert not allowed(sts, "glue:DeleteTable", table.format(REGION, ACCOUNT))
    assert allowed(sts, "s3:GetObject", "arn:aws:s3:::lake-raw/events/2026/part-0.parquet")
    assert not allowed(sts, "s3:GetObject", "arn:aws:s3:::lake-rawx/events/part-0.parquet")
    assert not allowed(sts, "s3:PutObject", "arn:aws:s3:::lake-raw/events/part-0.parquet")
    assert allowed(sts, "s3:PutObject", "arn:aws:s3:::results-bkt/backflow/q-1.csv")
    assert not allowed(sts, "s3:PutObject", "arn:aws:s3:::results-bkt/other/q-1.csv")


def test_redshift_cluster_with_and_without_db_user(transformed):
    cluster = f"arn:aws:redshift:{REGION}:{ACCOUNT}"
    sts = role_statements(Stack(transformed, CLUSTER).resources(), "ExtractFunction")
    assert statement(sts, "RunOnCluster")["Resource"] == f"{cluster}:cluster:analytics"
    assert statement(sts, "RoleCredentials")["Resource"] == f"{cluster}:dbname:analytics/dev"
    assert "redshift:GetClusterCredentials" not in actions(sts)
    own = statement(sts, "OwnStatements")
    assert own["Resource"] == "*"
    assert own["Condition"] == {"StringEquals": {
        "redshift-data:statement-owner-iam-userid": "${aws:userid}"}}
    assert set(own["Action"]) == {"redshift-data:DescribeStatement",
                                  "redshift-data:GetStatementResult",
                                  "redshift-data:CancelStatement"}
    assert not [a for a in actions(sts) if a.startswith(("athena:", "glue:", "ec2:",
                                                         "redshift-serverless:"))]

    sts = role_statements(Stack(transformed, {**CLUSTER, "RedshiftDbUser": "backflow"})
                          .resources(), "ExtractFunction")
    assert statement(sts, "DbUserCredentials")["Resource"] == [
        f"{cluster}:dbuser:analytics/backflow", f"{cluster}:dbname:analytics/dev"]
    assert "redshift:GetClusterCredentialsWithIAM" not in actions(sts)
    assert not {"redshift:CreateClusterUser", "redshift:JoinGroup"} & actions(sts)


def test_redshift_serverless_workgroup(transformed):
    sts = role_statements(Stack(transformed, WORKGROUP).resources(), "ExtractFunction")
    run = statement(sts, "RunOnWorkgroup")
    assert run["Resource"] == (f"arn:aws:redshift-serverless:{REGION}:{ACCOUNT}:workgroup/"
                               + WORKGROUP["RedshiftWorkgroupId"])
    assert set(run["Action"]) == {"redshift-data:ExecuteStatement",
                                  "redshift-serverless:GetCredentials"}
    statement(sts, "OwnStatements")
    assert not [a for a in actions(sts) if a.startswith(("redshift:", "athena:", "ec2:"))]


def test_vpc_config_and_network_interfaces_only_with_subnets(transformed):
    res = Stack(transformed, VPC).resources()
    assert res["ExtractFunction"]["Properties"]["VpcConfig"] == {
        "SubnetIds": SUBNETS, "SecurityGroupIds": [SECURITY_GROUP]}
    sts = role_statements(res, "ExtractFunction")
    assert statement(sts, "NetworkInterfaces")["Resource"] == f"arn:aws:ec2:{REGION}:{ACCOUNT}:*"
    assert {"ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface",
            "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"} <= actions(sts)
    # SAM's VPC managed policy (interfaces anywhere) is not attached.
    assert managed_policies(res, "ExtractFunction") == []
    for fn in ("TriggerFunction", "LoadFunction"):
        assert "VpcConfig" not in res[fn]["Properties"]


def test_rules_refuse_half_set_options(transformed):
    def broken(values: dict) -> list[str]:
        return Stack(transformed, values).broken_rules()

    assert broken(EVERYTHING) == []
    assert broken({**ATHENA, "AthenaResultsLocation": ""}) == [
        "AthenaWorkgroup needs AthenaResultsLocation (s3://bucket/prefix/ of the query results)"]
    assert any("GlueDatabases" in b for b in broken({**ATHENA, "GlueDatabases": ""}))
    assert any("AthenaSourceBuckets" in b for b in broken({**ATHENA, "AthenaSourceBuckets": ""}))
    assert broken({"RedshiftClusterIdentifier": "analytics"}) == [
        "RedshiftClusterIdentifier needs RedshiftDatabase"]
    assert any("RedshiftClusterIdentifier" in b for b in broken({"RedshiftDbUser": "backflow"}))
    assert broken({"ExtractSubnetIds": SUBNETS[0]}) == [
        "ExtractSubnetIds needs ExtractSecurityGroupIds"]
    assert broken({"ExtractSecurityGroupIds": SECURITY_GROUP}) == [
        "ExtractSecurityGroupIds needs ExtractSubnetIds"]


# ------------------------------------------ linters with every option set --


def _every_option_set(raw: dict) -> dict:
    """The template as written, with EVERYTHING as the parameters' defaults (what
    cfn-lint resolves with) and no cfn-lint suppressions."""
    tpl = copy.deepcopy(raw)
    for name, value in EVERYTHING.items():
        tpl["Parameters"][name]["Default"] = value
    for res in tpl["Resources"].values():
        (res.get("Metadata") or {}).pop("cfn-lint", None)
    return tpl


def _branches_taken(tpl: dict) -> dict:
    """`tpl` with each Fn::If in its resources replaced by the branch its
    parameter defaults take: what checkov needs to see the conditional parts."""
    stack = Stack(tpl, {})

    def pick(node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (pick(x) for x in node) if v != {"Ref": "AWS::NoValue"}]
        if not isinstance(node, dict):
            return node
        if set(node) == {"Fn::If"}:
            cond, yes, no = node["Fn::If"]
            return pick(yes if stack.condition(cond) else no)
        return {k: pick(v) for k, v in node.items()}

    return dict(tpl, Resources=pick(tpl["Resources"]))


def _write(tpl: dict, directory: Path) -> Path:
    path = directory / "template.yaml"
    path.write_text(yaml.safe_dump(tpl, sort_keys=False))
    return path


def test_cfn_lint_with_every_option_set(raw, tmp_path):
    path = _write(_every_option_set(raw), tmp_path)
    proc = subprocess.run([venv_tool("cfn-lint"), str(path)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_checkov_with_every_option_set(raw, tmp_path):
    tpl = _branches_taken(_every_option_set(raw))
    assert "VpcConfig" in tpl["Resources"]["ExtractFunction"]["Properties"]
    assert len(tpl["Resources"]["ExtractFunctionRole"]["Properties"]["Policies"]) == 6
    proc = subprocess.run(
        [venv_tool("checkov"), "-f", str(_write(tpl, tmp_path)), "--framework", "cloudformation",
         "--skip-download", "--quiet", "--compact"],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "Failed checks: 0" in proc.stdout, proc.stdout[-4000:]

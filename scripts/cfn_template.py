"""infra/template.yaml, read and resolved: the one description of backflow's AWS
resources and of the functions' environment that the local stack is built from.

`StackModel` resolves the intrinsic functions the template uses (with the
parameters' defaults) and answers what the local stack needs: the tables, the
bucket, the secrets, the functions (name and binary) and the environment every
function gets (`Globals.Function.Environment`). `local_resources.py` turns them
into moto resources; `local_functions.py` into the functions' environment and
the `cargo lambda watch` command. Only the standard library and PyYAML.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / "infra" / "template.yaml"

DEFAULT_STACK_NAME = "backflow"
DEFAULT_BUCKET = "backflow-local"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account


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
                 overrides: dict[str, Any] | None = None,
                 resources: dict[str, str] | None = None):
        self.template = template
        self.params: dict[str, Any] = {}
        for name, spec in (template.get("Parameters") or {}).items():
            if "Default" in spec:
                self.params[name] = spec["Default"]
        self.params.update(overrides or {})
        # `!Ref Resource` -> the name the local stack gives that resource.
        self.resources = dict(resources or {})
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
        if name in self.resources:
            return self.resources[name]
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

    def name_resources(self, state_table: str | None = None, runs_table: str | None = None,
                       bucket: str | None = None) -> dict[str, str]:
        """Give the tables and the bucket their local names (logical id -> name),
        from then on what `!Ref` to them resolves to: the tables as the template
        names them (with the stack name) unless given, the bucket `backflow-local`
        unless given (the template leaves its name to CloudFormation)."""
        names = {}
        for var, given in (("BACKFLOW_STATE_TABLE", state_table), ("BACKFLOW_RUNS_TABLE", runs_table)):
            names[self.logical_id_for_env(var)] = given or self.table(var)["TableName"]
        names[self.logical_id_for_env("BACKFLOW_BUCKET")] = bucket or DEFAULT_BUCKET
        # `!Ref` to a topic is its ARN; moto builds it from the name like AWS does.
        for lid, props in self.topics().items():
            names[lid] = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{props['TopicName']}"
        self.resolver.resources.update(names)
        return names

    def topics(self) -> dict[str, dict]:
        """The SNS topics (logical id -> resolved properties): the alerts topic."""
        return {lid: self.properties(lid) for lid, res in self.resources.items()
                if res.get("Type") == "AWS::SNS::Topic"}

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

    def functions(self) -> dict[str, str]:
        """Each function's name in AWS (FunctionName) -> its binary, the name
        `cargo lambda watch` serves it under locally."""
        out = {}
        for lid, res in self.resources.items():
            if res.get("Type") != "AWS::Serverless::Function":
                continue
            binary = (((res.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary"))
            name = self.resolver.resolve((res.get("Properties") or {}).get("FunctionName"))
            if not (binary and name):
                raise SystemExit(f"infra/template.yaml: function {lid} needs a FunctionName "
                                 "and Metadata.BuildProperties.Binary")
            out[name] = binary
        return out

"""The SAM template's worker role as IAM will read it: the policy with every intrinsic
resolved to concrete ARNs for given physical names, and a small evaluator of its Allow
statements (the subset of IAM's rules the template uses; anything else is refused). Also the
container worker's task role as docs/iam.md shows it and as templates/fleet.yaml makes it.

tests/deploy checks the policies statically with it; tests/integration hands the same
policies to moto's server, which enforces them on real jobs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cfnlint.decode import decode

TEMPLATE = Path(__file__).parents[1] / "template.yaml"
FLEET = Path(__file__).parents[1] / "templates" / "fleet.yaml"  # the ECS fleets' nested stack
IAM_DOC = Path(__file__).parents[1] / "docs" / "iam.md"
ROLE = "WorkerRole"
PARTITION, REGION, ACCOUNT, STACK = "aws", "us-east-1", "123456789012", "ffapi"


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    doc, problems = decode(str(path))
    assert not problems, problems
    return dict(doc)


@dataclass(frozen=True)
class Stack:
    """What CloudFormation would know at deploy time: parameter values and each resource's
    physical name (a bucket's, a queue's, a table's...)."""

    template: dict[str, Any]
    names: Mapping[str, str]
    parameters: Mapping[str, str]

    def parameter(self, name: str) -> str:
        if name in self.parameters:
            return self.parameters[name]
        return str(self.template["Parameters"][name]["Default"])

    def ref(self, name: str) -> str:
        pseudo = {
            "AWS::Partition": PARTITION,
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::StackName": STACK,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.template.get("Parameters", {}):
            return self.parameter(name)
        kind, physical = self.template["Resources"][name]["Type"], self.names[name]
        return {
            "AWS::SQS::Queue": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{physical}",
            "AWS::SNS::Topic": f"arn:{PARTITION}:sns:{REGION}:{ACCOUNT}:{physical}",
        }.get(kind, physical)

    def get_att(self, name: str, attribute: str) -> str:
        assert attribute == "Arn", attribute
        kind, physical = self.template["Resources"][name]["Type"], self.names[name]
        where = f"{REGION}:{ACCOUNT}"
        return {
            "AWS::S3::Bucket": f"arn:{PARTITION}:s3:::{physical}",
            "AWS::SQS::Queue": f"arn:{PARTITION}:sqs:{where}:{physical}",
            "AWS::DynamoDB::Table": f"arn:{PARTITION}:dynamodb:{where}:table/{physical}",
            "AWS::Logs::LogGroup": f"arn:{PARTITION}:logs:{where}:log-group:{physical}:*",
            "AWS::IAM::Role": f"arn:{PARTITION}:iam::{ACCOUNT}:role/{physical}",
        }[kind]

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return str(value) if isinstance(value, str) else value
        if set(value) == {"Ref"}:
            return self._ref_value(value["Ref"])
        if set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            return separator.join(self.resolve(parts))
        if set(value) == {"Fn::GetAtt"}:
            target = value["Fn::GetAtt"]
            name, attribute = target if isinstance(target, list) else target.split(".", 1)
            return self.get_att(name, attribute)
        if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], list):
            text, variables = value["Fn::Sub"]
            for name, given in variables.items():
                text = text.replace(f"${{{name}}}", self.resolve(given))
            return self.resolve({"Fn::Sub": text})
        if set(value) == {"Fn::Sub"}:
            return re.sub(r"\$\{([^}]+)\}", self._substitute, value["Fn::Sub"])
        if set(value) == {"Fn::If"}:
            name, then, otherwise = value["Fn::If"]
            return self.resolve(then if self.condition(name) else otherwise)
        assert not any(k.startswith("Fn::") for k in value), value
        return {str(k): self.resolve(v) for k, v in value.items()}

    def _ref_value(self, name: str) -> str | list[str]:
        spec = self.template.get("Parameters", {}).get(name, {})
        if spec.get("Type") == "CommaDelimitedList":
            return self.ref(name).split(",")
        return self.ref(name)

    def condition(self, name: str) -> bool:
        """A condition of the template for these parameters (the forms the templates use)."""
        return self._holds(self.template["Conditions"][name])

    def _holds(self, spec: Mapping[str, Any]) -> bool:
        [(form, args)] = spec.items()
        if form == "Fn::Equals":
            left, right = (self.resolve(a) for a in args)
            return bool(left == right)
        if form == "Fn::Not":
            return not self._holds(args[0])
        if form == "Fn::And":
            return all(self._holds(a) for a in args)
        assert form == "Condition", form
        return self.condition(args)

    def _substitute(self, match: re.Match[str]) -> str:
        name, _, attribute = match.group(1).partition(".")
        return self.get_att(name, attribute) if attribute else self.ref(name)

    def role_policies(self, role_name: str = ROLE) -> list[dict[str, Any]]:
        """Every policy document of the worker's role (or another), resolved."""
        role = self.template["Resources"][role_name]["Properties"]
        return [self.resolve(p["PolicyDocument"]) for p in role["Policies"]]


# The fleet's task role adds these to the worker's calls: task scale-in protection (the ECS
# agent's endpoint calls ECS with the task's credentials) and the metrics sidecar's EMF.
FLEET_ONLY = {"ProtectTask", "PublishMetrics"}


def fleet_task_policy(parameters: Mapping[str, str]) -> dict[str, Any]:
    """templates/fleet.yaml's task role, resolved for these nested-stack parameters."""
    names = {"Cluster": "ffapi-fleet", "MetricsLogGroup": "/ffapi/metrics"}
    [policy] = Stack(load_template(FLEET), names, parameters).role_policies("TaskRole")
    return policy


def container_policy() -> dict[str, Any]:
    """The ECS task role's policy, the one JSON block of docs/iam.md."""
    [block] = re.findall(r"```json\n(.*?)```", IAM_DOC.read_text(), re.DOTALL)
    return dict(json.loads(block))


def statements(policy: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = policy["Statement"]
    return list(found) if isinstance(found, list) else [found]


def as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _glob(pattern: str, value: str, *, case: bool = True) -> bool:
    """IAM's wildcards: ``*`` any run of characters (``/`` too), ``?`` one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringLike": _glob,
    "StringEquals": lambda p, v: p == v,
}


def _conditions_hold(condition: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    for operator, keys in condition.items():
        test = _OPERATORS[operator]  # KeyError: an operator this evaluator does not know
        for key, patterns in keys.items():
            if key not in context:  # AWS: a missing key fails every non-...IfExists test
                return False
            if not any(test(p, context[key]) for p in as_list(patterns)):
                return False
    return True


def allows(
    policies: list[dict[str, Any]],
    action: str,
    resource: str,
    context: Mapping[str, str] | None = None,
) -> bool:
    """Does some Allow statement grant ``action`` on ``resource`` in this request context?
    (The role has no Deny, NotAction or NotResource; the static tests check that.)"""
    for policy in policies:
        for st in statements(policy):
            assert st["Effect"] == "Allow"
            assert not {"NotAction", "NotResource"} & set(st)
            if not any(_glob(a, action, case=False) for a in as_list(st["Action"])):
                continue
            if not any(_glob(r, resource) for r in as_list(st["Resource"])):
                continue
            if _conditions_hold(st.get("Condition", {}), context or {}):
                return True
    return False

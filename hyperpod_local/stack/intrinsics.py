"""A small evaluator for the CloudFormation intrinsics template.yaml uses.

Enough to turn a property of the template into the value CloudFormation would deploy, given parameter
values and the physical ids of the resources it refers to: Ref, Fn::GetAtt, Fn::Sub, Fn::Join,
Fn::Select, Fn::Split, Fn::FindInMap, Fn::If / Condition with Fn::Equals, Fn::Not, Fn::And, Fn::Or,
and AWS::NoValue. Anything else raises `UnresolvedError`, so a test never silently compares against an
unevaluated intrinsic.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

NO_VALUE: Any = object()  # what Ref AWS::NoValue evaluates to; dropped from the enclosing dict/list

_SUB_VAR = re.compile(r"\$\{([^}]+)\}")


class UnresolvedError(KeyError):
    """The value refers to something the resolver was not told about (or an intrinsic it lacks)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unresolved"


@dataclass(frozen=True)
class Resolver:
    """Evaluate intrinsics against one deployment of `template`.

    `parameters` override the template's defaults; `refs` maps a resource's logical id to what `Ref`
    returns for it; `attrs` maps (logical id, attribute) to what `Fn::GetAtt` returns.
    """

    template: Mapping[str, Any]
    parameters: Mapping[str, str] = field(default_factory=dict)
    refs: Mapping[str, Any] = field(default_factory=dict)
    attrs: Mapping[tuple[str, str], Any] = field(default_factory=dict)
    region: str = "us-east-1"
    account_id: str = "123456789012"
    partition: str = "aws"
    stack_name: str = "hyperpod-autoheal"

    def with_resources(
        self, refs: Mapping[str, Any], attrs: Mapping[tuple[str, str], Any] | None = None
    ) -> Resolver:
        return Resolver(
            self.template,
            self.parameters,
            {**self.refs, **refs},
            {**self.attrs, **(attrs or {})},
            self.region,
            self.account_id,
            self.partition,
            self.stack_name,
        )

    # ---------------------------------------------------------------- parameters and conditions

    def parameter(self, name: str) -> Any:
        """The value `Ref name` gives: a string, or a list of strings for list parameters."""
        declared = self.template.get("Parameters", {})
        if name not in declared:
            raise UnresolvedError(f"no parameter {name!r} in the template")
        spec = declared[name]
        if name in self.parameters:
            raw = self.parameters[name]
        elif "Default" in spec:
            raw = spec["Default"]
        else:
            raise UnresolvedError(f"parameter {name!r} has no default and no value was given")
        if str(spec.get("Type", "String")).startswith(("CommaDelimitedList", "List<")):
            return raw if isinstance(raw, list) else [part.strip() for part in str(raw).split(",")]
        return str(raw)

    def condition(self, name: str) -> bool:
        conditions = self.template.get("Conditions", {})
        if name not in conditions:
            raise UnresolvedError(f"no condition {name!r} in the template")
        return bool(self.resolve(conditions[name]))

    # ---------------------------------------------------------------- evaluation

    def resolve(self, value: Any) -> Any:
        """`value` with every intrinsic evaluated and every AWS::NoValue removed."""
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self._function(key, arg)
        out = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not NO_VALUE}

    def _ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": self.partition,
            "AWS::StackName": self.stack_name,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.template.get("Parameters", {}):
            return self.parameter(name)
        if name in self.refs:
            return self.refs[name]
        raise UnresolvedError(f"Ref {name!r}: not a parameter and no physical id was given")

    def _getatt(self, logical_id: str, attribute: str) -> Any:
        if (logical_id, attribute) in self.attrs:
            return self.attrs[(logical_id, attribute)]
        raise UnresolvedError(f"Fn::GetAtt {logical_id}.{attribute}: no value was given")

    def _function(self, name: str, arg: Any) -> Any:
        if name == "Fn::If":
            cond, if_true, if_false = arg
            return self.resolve(if_true if self.condition(cond) else if_false)
        if name == "Fn::Equals":
            left, right = (self.resolve(a) for a in arg)
            return str(left) == str(right)
        if name == "Fn::Not":
            return not self.resolve(arg[0])
        if name == "Fn::And":
            return all(self.resolve(a) for a in arg)
        if name == "Fn::Or":
            return any(self.resolve(a) for a in arg)
        if name == "Fn::GetAtt":
            logical_id, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
            return self._getatt(logical_id, attribute)
        if name == "Fn::Join":
            sep, items = arg
            return str(self.resolve(sep)).join(str(i) for i in self.resolve(items))
        if name == "Fn::Select":
            index, items = arg
            return self.resolve(items)[int(self.resolve(index))]
        if name == "Fn::Split":
            sep, text = arg
            return str(self.resolve(text)).split(str(self.resolve(sep)))
        if name == "Fn::FindInMap":
            mapping, top, second = (self.resolve(a) for a in arg)
            return self.template["Mappings"][mapping][top][second]
        if name == "Fn::Sub":
            return self._sub(arg)
        raise UnresolvedError(f"{name} is not supported by this resolver")

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        local = {k: self.resolve(v) for k, v in variables.items()}

        def replace(match: re.Match[str]) -> str:
            token = match.group(1)
            if token.startswith("!"):
                return "${" + token[1:] + "}"
            if token in local:
                return str(local[token])
            if "." in token:
                logical_id, attribute = token.split(".", 1)
                return str(self._getatt(logical_id, attribute))
            return str(self._ref(token))

        return _SUB_VAR.sub(replace, text)

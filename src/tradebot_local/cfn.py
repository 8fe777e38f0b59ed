"""Read template.yaml (CloudFormation short-form tags included) and resolve the few intrinsics we need."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml


class CfnTag:
    """A CloudFormation short-form intrinsic (``!Ref X`` -> CfnTag("Ref", "X"))."""

    def __init__(self, name: str, value: Any) -> None:
        self.name = name
        self.value = value

    def __repr__(self) -> str:
        return f"!{self.name} {self.value!r}"


class _CfnLoader(yaml.SafeLoader):
    pass


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> CfnTag:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return CfnTag(suffix, value)


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass, only adds CFN tags
    if not isinstance(data, dict) or "Resources" not in data:
        raise ValueError(f"{path}: not a CloudFormation/SAM template")
    return data


def resolve(value: Any, refs: dict[str, str], attrs: dict[tuple[str, str], str]) -> Any:
    """Resolve !Ref, !GetAtt and !Sub against the local deployment's physical names."""
    if isinstance(value, CfnTag):
        if value.name == "Ref":
            return refs[value.value]
        if value.name == "GetAtt":
            logical, attr = value.value
            return attrs[(logical, attr)]
        if value.name == "Sub" and isinstance(value.value, str):
            return re.sub(r"\$\{([^}]+)\}", lambda m: refs[m.group(1)], value.value)
        raise ValueError(f"unsupported intrinsic in local emulation: {value!r}")
    if isinstance(value, dict):
        if len(value) == 1:
            key = next(iter(value))
            if key == "Ref" or key.startswith("Fn::"):
                return resolve(CfnTag(key.removeprefix("Fn::"), value[key]), refs, attrs)
        return {k: resolve(v, refs, attrs) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, refs, attrs) for v in value]
    return value

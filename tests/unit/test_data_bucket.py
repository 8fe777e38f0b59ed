"""The data bucket's lifecycle keeps the bar archive (the source of truth) and expires per-run objects."""

from __future__ import annotations

from typing import Any

import pytest

from tradebot.data.archive import ARCHIVE_PREFIX
from tradebot_local.cfn import load_template
from tradebot_local.provision import TEMPLATE


@pytest.fixture(scope="module")
def rules() -> list[dict[str, Any]]:
    bucket = load_template(TEMPLATE)["Resources"]["DataBucket"]["Properties"]
    return bucket["LifecycleConfiguration"]["Rules"]  # type: ignore[no-any-return]


def applies_to(rule: dict[str, Any], key: str) -> bool:
    prefix = rule.get("Prefix", rule.get("Filter", {}).get("Prefix", ""))
    return rule["Status"] == "Enabled" and key.startswith(prefix)


def test_archive_objects_never_expire_and_idle_ones_go_cold(rules):
    key = f"{ARCHIVE_PREFIX}/SPY.csv.gz"
    assert key == "archive/bars/SPY.csv.gz"
    archive_rules = [r for r in rules if applies_to(r, key)]
    assert not any("ExpirationInDays" in r or "ExpirationDate" in r for r in archive_rules)
    (cold,) = [r for r in archive_rules if r.get("Transitions")]
    assert cold["Prefix"] == "archive/"
    assert cold["Transitions"] == [{"StorageClass": "STANDARD_IA", "TransitionInDays": 90}]
    # old versions of a rewritten archive object do expire (a month to roll back a bad fetch)
    assert any(r.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays") == 30 for r in archive_rules)


def test_run_objects_expire(rules):
    for key in ("runs/2025-12-30/run-1/bars.csv.gz", "runs/2025-12-30/run-1/quality.json"):
        assert any(r.get("ExpirationInDays") == 365 for r in rules if applies_to(r, key))

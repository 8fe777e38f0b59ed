"""Settings fail loudly, naming every missing variable."""

import pytest

from tradebot.errors import ConfigurationError
from tradebot.settings import Settings, get_settings

REQUIRED = [name.upper() for name, f in Settings.model_fields.items() if f.is_required()]


def test_missing_settings_are_named(monkeypatch):
    for name in REQUIRED:
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    with pytest.raises(ConfigurationError) as info:
        get_settings()
    for name in REQUIRED:
        assert name in str(info.value)
    get_settings.cache_clear()


def test_settings_from_environment(monkeypatch):
    for name in REQUIRED:
        monkeypatch.setenv(name, f"value-{name.lower()}")
    get_settings.cache_clear()
    settings = get_settings()
    assert settings.ledger_table == "value-ledger_table"
    assert settings.data_source == "yfinance"
    get_settings.cache_clear()

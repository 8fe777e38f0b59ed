"""Event parsing: bad input gets the project's typed error with a readable message."""

import pytest

from tradebot.contracts import FetchEvent, OptimizeEvent, PipelineRequest, parse_event
from tradebot.errors import InputValidationError


def test_valid_fetch_event():
    event = parse_event(
        FetchEvent, {"run_id": "run-1", "request": {"as_of": "2025-06-02", "symbols": ["SPY"]}}
    )
    assert event.request.symbols == ["SPY"]


@pytest.mark.parametrize(
    ("event", "fragment"),
    [
        ("not a dict", "expected a JSON object"),
        ({}, "run_id"),
        ({"run_id": "r", "request": {"as_of": "2025-13-45"}}, "request.as_of"),
        ({"run_id": "r", "request": {"symbols": ["spy;drop"]}}, "request.symbols.0"),
        ({"run_id": "r", "extra": 1}, "extra"),
    ],
)
def test_malformed_events_raise_input_validation_error(event, fragment):
    with pytest.raises(InputValidationError) as info:
        parse_event(FetchEvent, event)
    assert fragment in str(info.value)
    assert str(info.value).startswith("FetchEvent:")


def test_optimize_event_requires_its_batchs_bars_pointer():
    batch = {"batch": 0, "symbols": ["SPY"]}
    event = {"run_id": "r", "as_of": "2025-06-02", "strategy": "sma_crossover", "batch": batch}
    with pytest.raises(InputValidationError, match=r"batch\.bars"):
        parse_event(OptimizeEvent, event)


def test_an_unknown_strategy_is_refused_at_the_boundary():
    with pytest.raises(InputValidationError, match="unknown strategy 'nosuch'"):
        parse_event(PipelineRequest, {"strategy": "nosuch"})


def test_pipeline_request_rejects_empty_symbol_list():
    with pytest.raises(InputValidationError, match="symbols"):
        parse_event(PipelineRequest, {"symbols": []})

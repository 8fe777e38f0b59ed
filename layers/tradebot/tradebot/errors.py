"""One error hierarchy for the whole bot.

The state machine matches errors by class name (a Lambda's ``errorType``), so these names are part of the
contract with ``statemachine/*.asl.json``: ``RetryableError`` is named in every Retry; everything else is
permanent and handled by Catch. Never match errors by message text.
"""

from __future__ import annotations


class TradebotError(Exception):
    """Base class of every error this project raises on purpose."""


class RetryableError(TradebotError):
    """A transient failure (throttling, a data provider's 429, a timeout): retrying may succeed."""


class PermanentError(TradebotError):
    """A failure that retrying cannot fix: it needs different input or a person."""


class InputValidationError(PermanentError):
    """An event, message or file did not match its model. Raised before anything is written."""


class ConfigurationError(PermanentError):
    """A required setting is missing or invalid (named in the message)."""


class DataQualityError(PermanentError):
    """Market data is unusable: empty, NaN, non-positive, inconsistent OHLC or stale."""


class UnknownSymbolError(DataQualityError):
    """The data source has no data for a symbol."""


class OptimizationError(PermanentError):
    """More symbols than the run tolerates could not be optimized: the run trades nothing."""


class KillSwitchEngaged(PermanentError):
    """Trading is halted by the operator's kill switch or the daily loss limit."""

"""The strategy registry: name -> strategy instance.

A strategy module decorates its class with :func:`register`; the built-in modules are listed in
``BUILTIN_MODULES`` and imported on first use, so adding a strategy is one new module plus one line here.
"""

from __future__ import annotations

import importlib
from typing import Any, TypeVar

from tradebot.errors import InputValidationError
from tradebot.strategy.base import Strategy

BUILTIN_MODULES: tuple[str, ...] = (
    "tradebot.strategy.sma_crossover",
    "tradebot.strategy.ema_crossover",
    "tradebot.strategy.rsi_reversion",
    "tradebot.strategy.bollinger_reversion",
    "tradebot.strategy.donchian_breakout",
    "tradebot.strategy.ts_momentum",
)

_REGISTRY: dict[str, Strategy[Any]] = {}
_loaded = False

S = TypeVar("S", bound=type)


def register(cls: S) -> S:
    """Class decorator: register one instance of a Strategy subclass under its ``name``."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{cls.__name__} needs a non-empty class attribute `name`")
    existing = _REGISTRY.get(name)
    if existing is not None and type(existing).__qualname__ != cls.__qualname__:
        raise ValueError(f"strategy name {name!r} is already registered by {type(existing).__name__}")
    instance = cls()
    if not isinstance(instance, Strategy):
        raise TypeError(f"{cls.__name__} is not a Strategy")
    _REGISTRY[name] = instance
    return cls


def _load_builtins() -> None:
    global _loaded
    if not _loaded:
        for module in BUILTIN_MODULES:
            importlib.import_module(module)
        _loaded = True


def strategy_names() -> list[str]:
    """Registered strategy names, sorted."""
    _load_builtins()
    return sorted(_REGISTRY)


def get_strategy(name: str) -> Strategy[Any]:
    """The registered strategy called ``name``; an unknown name raises InputValidationError."""
    _load_builtins()
    strategy = _REGISTRY.get(name) if isinstance(name, str) else None
    if strategy is None:
        raise InputValidationError(f"unknown strategy {name!r}; valid: {', '.join(sorted(_REGISTRY))}")
    return strategy

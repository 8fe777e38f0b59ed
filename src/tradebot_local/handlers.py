"""Load the real Lambda handlers from functions/<name>/app.py (each folder is one Lambda, all named app)."""

from __future__ import annotations

import importlib.util
import os
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from tradebot_local.provision import REPO_ROOT

FUNCTIONS_DIR = REPO_ROOT / "functions"


@cache
def load_module(folder: Path, environment: tuple[tuple[str, str], ...] = ()) -> ModuleType:
    """Import functions/<name>/app.py under a unique module name (no sys.path edits), once per distinct
    ``environment`` (the Powertools and Lambda-runtime variables its module-level objects read)."""
    path = folder / "app.py"
    if not path.is_file():
        raise FileNotFoundError(f"no handler at {path}")
    spec = importlib.util.spec_from_file_location(f"functions.{folder.name}.app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_handler(folder: Path) -> Any:
    """The handler of functions/<name>/app.py, its module imported as a cold start would under the current
    environment: Powertools' Logger and Metrics read POWERTOOLS_* when the module creates them."""
    environment = tuple(
        sorted((k, v) for k, v in os.environ.items() if k.startswith(("POWERTOOLS_", "AWS_LAMBDA_")))
    )
    return load_module(folder, environment).lambda_handler


def function_folders() -> dict[str, Path]:
    """functions/ folder name -> folder, e.g. 'fetch_market_data'."""
    return {p.name: p for p in sorted(FUNCTIONS_DIR.iterdir()) if (p / "app.py").is_file()}

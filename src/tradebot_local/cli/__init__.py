"""`tradebot`: the local command line's app (installed in the project's venv, never shipped to AWS)."""

from __future__ import annotations

import typer

from tradebot_local.cli import account, data, replay, research, run

app = typer.Typer(
    help="Serverless trading bot: run the pipeline locally against emulated AWS, invoke one function.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
run.register(app)
research.register(app)
data.register(app)
account.register(app)
replay.register(app)

if __name__ == "__main__":  # pragma: no cover
    app()

"""What every CLI command shares: settings, the database, and how errors are said."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from assembly.schema import SCHEMA_HISTORY
from yui.db.database import Database
from yui.errors import YuiError
from yui.settings import Settings, SettingsError, load_settings

console = Console()
errors = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    errors.print(f"[bold red]エラー / error:[/] {message}", highlight=False)
    return typer.Exit(code)


def settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as error:
        raise fail(str(error), 2) from None


@contextmanager
def database(migrate: bool = True) -> Iterator[Database]:
    """The site's database, migrated; domain errors become a message and exit code."""
    db = Database(settings().effective_database_url)
    try:
        if migrate:
            db.migrate(SCHEMA_HISTORY)
        yield db
    except YuiError as error:
        raise fail(error.detail, 2 if error.status in (400, 409, 422) else 1) from None
    finally:
        db.dispose()

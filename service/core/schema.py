"""The database schema: Alembic migrations (`migrations/` at the project root) applied in code."""

from __future__ import annotations

from pathlib import Path

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def migrate_database(url: str) -> tuple[str | None, str | None]:
    """Apply every migration (alembic upgrade head) to the database at `url`; return the
    schema's revision before (None: there was no schema) and after."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    if url.startswith("sqlite") and database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)  # the data directory
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = url
    before = _revision(url)
    command.upgrade(config, "head")
    return before, _revision(url)


def _revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()

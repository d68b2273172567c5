"""Keeping the developer's configuration out of tests: every environment variable `Settings`
reads, derived from its fields, so a new setting can never leak in from the shell.

pydantic-settings reads a field from its alias or validation alias (each choice of an
`AliasChoices`, the head of an `AliasPath`), and also from the field name when
`populate_by_name` is on; with `case_sensitive=False` it matches the variable in any case
(`smtp_host` and `Smtp_Host` set `SMTP_HOST`). `STOCKTEACHER_ENV_FILE` names a dotenv file
read beside `./.env` (`stockteacher.settings.env_files`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pytest
from pydantic import AliasChoices, AliasPath
from pydantic.fields import FieldInfo

from stockteacher.core.crypto import new_key
from stockteacher.settings import ENV_FILE_VARIABLE, Settings

__all__ = ["TEST_SECRET_KEY", "VENDOR_PREFIXES", "isolate_environment", "leaking_variables", "settings_variables"]

TEST_SECRET_KEY = new_key()
"""The SECRET_KEY of `make_settings` (one per test process): channel secrets are sealed with it."""

VENDOR_PREFIXES = ("OPENAI_",)
"""Variables that a client library reads by itself, beside what `Settings` passes it: the OpenAI
SDK adds `OPENAI_ORG_ID`, `OPENAI_PROJECT_ID` and `OPENAI_CUSTOM_HEADERS` to every request."""


def _alias_names(alias: str | AliasChoices | AliasPath | None) -> list[str]:
    if alias is None:
        return []
    if isinstance(alias, str):
        return [alias]
    if isinstance(alias, AliasPath):
        return [str(alias.path[0])]
    return [name for choice in alias.choices for name in _alias_names(choice)]


def _field_names(name: str, field: FieldInfo) -> set[str]:
    config = Settings.model_config
    names = set(_alias_names(field.validation_alias)) | set(_alias_names(field.alias))
    if not names or config.get("populate_by_name") or config.get("validate_by_name"):
        names.add(name)
    prefix = config.get("env_prefix") or ""
    return names | {prefix + n for n in names}


def settings_variables() -> frozenset[str]:
    """Every environment variable name `Settings` (or `env_files`) reads, lower-cased."""
    names = {ENV_FILE_VARIABLE}
    for name, field in Settings.model_fields.items():
        names |= _field_names(name, field)
    return frozenset(n.lower() for n in names)


def leaking_variables(environ: Mapping[str, str]) -> list[str]:
    """The variables of `environ` that would reach `Settings` (in any letter case), or the
    client libraries of `VENDOR_PREFIXES`."""
    names = settings_variables()
    delimiter = (Settings.model_config.get("env_nested_delimiter") or "").lower()
    return sorted(
        key
        for key in environ
        if key.lower() in names
        or (delimiter and any(key.lower().startswith(n + delimiter) for n in names))
        or key.upper().startswith(VENDOR_PREFIXES)
    )


def isolate_environment(monkeypatch: pytest.MonkeyPatch, workdir: Path) -> None:
    """Remove every variable that configures StockTeacher and work in `workdir`, so neither the
    shell nor a `.env` in the directory pytest started from reaches the settings."""
    for key in leaking_variables(os.environ):
        monkeypatch.delenv(key)
    monkeypatch.chdir(workdir)

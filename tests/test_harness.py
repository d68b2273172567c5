"""The test harness itself: no developer configuration reaches `Settings` (shell variables in
any letter case, `./.env`, `STOCKTEACHER_ENV_FILE`), and tests share helpers only through
`tests.factories` and helper modules, never by importing a test module or a conftest."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest
from pydantic_settings import EnvSettingsSource

from stockteacher.settings import ENV_FILE_VARIABLE, Settings, env_files, load_settings
from tests.factories.settings import isolate_environment, leaking_variables, settings_variables

TESTS = Path(__file__).resolve().parent


def test_every_variable_pydantic_settings_reads_is_cleared() -> None:
    # pydantic-settings' own list of names per field (a private method: if it is renamed, this
    # test must follow it, not be dropped).
    source = EnvSettingsSource(Settings)
    read = {
        env_name
        for name, field in Settings.model_fields.items()
        for _, env_name, _ in source._extract_field_info(field, name)
    }
    assert len(read) >= len(Settings.model_fields)
    assert read <= settings_variables()
    assert ENV_FILE_VARIABLE.lower() in settings_variables()


def test_a_setting_outside_the_old_prefix_list_is_removed_in_any_letter_case(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # None of these started with a prefix the old fixture cleared (CHAT_, SMTP_, API_, WEBHOOK_).
    monkeypatch.setenv("CHAT_MAX_TURNS", "7")
    monkeypatch.setenv("smtp_host", "mail.example.org")
    monkeypatch.setenv("Api_Port", "9999")
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE_HOSTS", "1")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-from-the-shell")
    monkeypatch.setenv("STOCKTEACHER_UNRELATED_TEST_VARIABLE", "kept")
    leaked = load_settings(_env_file=None)
    assert (leaked.chat_max_turns, leaked.smtp_host, leaked.api_port) == (7, "mail.example.org", 9999)
    assert leaked.webhook_allow_private_hosts is True

    isolate_environment(monkeypatch, tmp_path)

    settings = load_settings(_env_file=None)
    assert (settings.chat_max_turns, settings.smtp_host, settings.api_port) == (20, None, 8000)
    assert settings.webhook_allow_private_hosts is None
    assert "OPENAI_ORG_ID" not in os.environ  # the OpenAI SDK would send it with every request
    assert os.environ["STOCKTEACHER_UNRELATED_TEST_VARIABLE"] == "kept"


def test_every_setting_set_in_the_shell_is_removed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, field in Settings.model_fields.items():
        variable = field.alias or name
        monkeypatch.setenv(variable.upper(), "1")
        monkeypatch.setenv(variable.lower(), "1")
    assert len(leaking_variables(os.environ)) >= 2 * len(Settings.model_fields)

    isolate_environment(monkeypatch, tmp_path)

    assert leaking_variables(os.environ) == []
    assert EnvSettingsSource(Settings)() == {}  # what pydantic-settings finds in the environment


def test_no_dotenv_file_reaches_the_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    start = tmp_path / "checkout"
    start.mkdir()
    (start / ".env").write_text("CHAT_MAX_TURNS=7\n")
    node = tmp_path / "node.env"
    node.write_text("SMTP_HOST=mail.example.org\n")
    monkeypatch.chdir(start)
    monkeypatch.setenv(ENV_FILE_VARIABLE, str(node))
    leaked = load_settings()
    assert (leaked.chat_max_turns, leaked.smtp_host) == (7, "mail.example.org")

    clean = tmp_path / "clean"
    clean.mkdir()
    isolate_environment(monkeypatch, clean)

    assert env_files() == (".env",) and Path.cwd() == clean
    settings = load_settings()
    assert (settings.chat_max_turns, settings.smtp_host) == (20, None)


def test_each_test_starts_isolated_in_its_own_directory(tmp_path: Path) -> None:
    assert Path.cwd() == tmp_path
    assert leaking_variables(os.environ) == []


def _imported_modules(path: Path) -> list[str]:
    modules: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.append(node.module)
        elif isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
    return modules


def test_no_test_imports_a_test_module_or_a_conftest() -> None:
    offenders = [
        f"{path.relative_to(TESTS.parent)} imports {module}"
        for path in sorted(TESTS.rglob("*.py"))
        for module in _imported_modules(path)
        if module.startswith("tests.") and module.rsplit(".", 1)[-1].startswith(("test_", "conftest"))
    ]
    assert offenders == [], "shared helpers belong in tests/factories"

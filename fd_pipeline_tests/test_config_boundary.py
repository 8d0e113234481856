"""One configuration boundary: the environment is read by settings.py, definitions.py, resources.py
and the command line only; every setting has one name (its variable without the prefix is its
resource field); definitions.py wires each field with `dg.EnvVar` when the variable is set (always,
for a secret) and the default otherwise; and the UI's resource view (GraphQL, from a code server
like `dagster dev` starts) shows every setting's value or variable, never a secret's value."""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import pytest

from fd_pipeline import settings
from fd_pipeline.resources import RESOURCES, configured, project_resources

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "fd_pipeline"

# The modules that may read the environment.
MAY_READ_ENV = {"settings.py", "definitions.py", "resources.py", "cli.py", "emulator/cli.py"}
ENV_READ = re.compile(r"os\.environ|getenv|\benv_(str|int|float|bool)\(|\bfrom_env\(")
# Modules outside the boundary that ask `settings` for a value, each for a value needed before any
# resource exists: the first partition and the writer pools are fixed when the assets are declared;
# Hugging Face's cache variables belong to the library, not to the project's settings.
ASK_SETTINGS = {"partitions.py", "pools.py", "embedding/resolve.py"}
IMPORTS_SETTINGS = re.compile(r"from fd_pipeline(\.settings)? import .*\bsettings\b|fd_pipeline\.settings\b")
PREFIXES = ("FRESHDESK_", "FD_EMBED_", "QDRANT_", "FD_")


def test_only_the_boundary_reads_the_environment():
    readers = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        if name in MAY_READ_ENV or name.startswith("commands/"):
            continue
        pattern = ENV_READ if name in ASK_SETTINGS else re.compile(f"{ENV_READ.pattern}|{IMPORTS_SETTINGS.pattern}")
        hits = [f"{n}: {line.strip()}" for n, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
        if hits:
            readers[name] = hits
    assert readers == {}


def test_one_name_per_setting():
    """Every resource field is one row of the settings table, named after its variable, with the
    type, default, description and secrecy the table holds."""
    for resource, cls in RESOURCES.items():
        rows = {s.field: s for s in settings.of_resource(resource)}
        assert list(cls.model_fields) == list(rows), resource  # same fields, in the table's order
        for field, setting in rows.items():
            info = cls.model_fields[field]
            assert any(setting.env == prefix + field.upper() for prefix in PREFIXES), (setting.env, field)
            assert info.annotation == setting.annotation, field
            assert info.description == f"{setting.env}: {setting.help}", field
            assert info.is_required() == (setting.default is None and setting.kind is not list), field
            if not info.is_required():
                default = info.get_default(call_default_factory=True)
                assert default == (list(setting.default) if setting.kind is list else setting.default), field
            secret = (info.json_schema_extra or {}).get("dagster__is_secret", False)
            assert secret == setting.secret and info.repr == (not setting.secret), field


# Defaults the README states in words rather than as the value the table holds.
README_DEFAULT_IN_WORDS = {
    "FD_DATA_DIR": "`./data`: the table's `data`, relative to the working directory",
    "FD_ALERT_SMTP_PORT": "the table's 0 means 587, or 465 for ssl",
}


def _readme_settings() -> dict[str, str]:
    """variable -> its default cell, from the README's settings table (a cell of a row naming two
    variables holds both defaults, split by ` / `, or one default for both)."""
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("| Variable | Default | Meaning |"):].split("\n\n", 1)[0].splitlines()[2:]
    rows: dict[str, str] = {}
    for line in table:
        names, default = (cell.strip() for cell in line.strip("|").split("|")[:2])
        variables = re.findall(r"`([A-Z_]+)`", names)
        defaults = default.split(" / ") if len(default.split(" / ")) == len(variables) else [default] * len(variables)
        for variable, cell in zip(variables, defaults):
            assert variable not in rows, f"{variable} has two rows in the README's settings table"
            rows[variable] = cell
    return rows


def _shown(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def test_the_readme_settings_table_is_the_settings_table():
    """One README row per variable of `settings.SETTINGS` (and no other, but the tests' database);
    a default the table holds as a value is the README's default, in backticks."""
    rows = _readme_settings()
    assert set(rows) - {s.env for s in settings.SETTINGS} == {"FD_TEST_DATABASE_URL"}
    assert {s.env for s in settings.SETTINGS} - set(rows) == set()
    for setting in settings.SETTINGS:
        value = setting.default
        if setting.env in README_DEFAULT_IN_WORDS or setting.in_data_dir or value in (None, "", ()):
            continue  # no value to show: required, empty, or where FD_DATA_DIR puts it
        assert rows[setting.env].startswith(f"`{_shown(value)}`"), (setting.env, rows[setting.env], value)


def _clear(monkeypatch):
    for setting in settings.SETTINGS:
        for name in (setting.env, setting.fallback):
            if name and name != "FD_PARTITIONS_START":
                monkeypatch.delenv(name, raising=False)


def test_definitions_wire_each_field_from_the_environment(monkeypatch, tmp_path):
    _clear(monkeypatch)
    monkeypatch.setenv("FD_DATA_DIR", str(tmp_path))
    defaults = project_resources()
    assert defaults["qdrant"].path == str(tmp_path / "qdrant")
    assert defaults["sync_log"].database_url == f"sqlite:///{tmp_path / 'sync_state.db'}"
    assert defaults["sync_settings"].retry_limit == 500 and defaults["embedder"].threads == 0

    monkeypatch.setenv("FRESHDESK_DOMAIN", "acme")
    monkeypatch.setenv("FRESHDESK_API_KEY", "key-123")
    monkeypatch.setenv("FD_RETRY_LIMIT", "7")
    monkeypatch.setenv("FD_EMBED_THREADS", "auto")
    monkeypatch.setenv("FD_MAX_FAILURE_RATIO", "0.5")
    monkeypatch.setenv("FD_KB_CATEGORIES", "3, 5")
    monkeypatch.setenv("FD_KB_INCLUDE_DRAFTS", "yes")
    monkeypatch.setenv("DATABASE_URL", "postgresql://fd:pw@db/fd")
    wired = {name: settings_of(project_resources()[name]) for name in RESOURCES}
    assert wired["freshdesk"]["domain"] == dg.EnvVar("FRESHDESK_DOMAIN")
    assert wired["freshdesk"]["api_key"] == dg.EnvVar("FRESHDESK_API_KEY")
    assert wired["sync_settings"]["retry_limit"].env_var_name == "FD_RETRY_LIMIT"
    assert wired["sync_log"]["database_url"] == dg.EnvVar("DATABASE_URL")  # the fallback's name, not its value
    assert wired["embedder"]["threads"] == 0
    assert wired["sync_settings"]["max_failure_ratio"] == 0.5
    assert wired["sync_settings"]["kb_categories"] == [3, 5]
    assert wired["sync_settings"]["kb_include_drafts"] is True

    # The command line opens the same resources, the variables resolved.
    assert configured("freshdesk").api_key == "key-123"
    assert configured("sync_settings").retry_limit == 7
    assert configured("sync_log").database_url == "postgresql://fd:pw@db/fd"

    monkeypatch.setenv("FD_SYNC_BATCH", "lots")
    with pytest.raises(ValueError, match="FD_SYNC_BATCH must be an integer, got 'lots'"):
        project_resources()


def settings_of(resource: dg.ConfigurableResource) -> dict:
    """The values the definitions hold, before Dagster resolves any variable."""
    return {name: getattr(resource, name) for name in type(resource).model_fields}


RESOURCE_VIEW = """
query ($selector: RepositorySelector!) {
  allTopLevelResourceDetailsOrError(repositorySelector: $selector) {
    __typename
    ... on ResourceDetailsList {
      results { name configFields { name description } configuredValues { key value type } }
    }
    ... on PythonError { message }
  }
  utilizedEnvVarsOrError(repositorySelector: $selector) {
    ... on EnvVarWithConsumersList { results { envVarName } }
  }
}
"""


def test_the_resource_view_shows_every_setting_and_no_secret(monkeypatch, tmp_path):
    """What the UI's Resources page asks a code server for, with secrets and plain settings set."""
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import ModuleTarget
    from dagster_graphql.test.utils import execute_dagster_graphql

    _clear(monkeypatch)
    secrets = {
        "FRESHDESK_API_KEY": "fd-key-5ecret-771",
        "QDRANT_API_KEY": "qdrant-key-5ecret-772",
        "FD_DATABASE_URL": "postgresql://fd:pw-5ecret-773@db.example:5432/fd",
    }
    for name, secret in secrets.items():
        monkeypatch.setenv(name, secret)
    monkeypatch.setenv("FRESHDESK_DOMAIN", "acme")
    monkeypatch.setenv("FD_RETRY_LIMIT", "7")
    monkeypatch.setenv("FD_KB_LANGUAGES", "ko,ja")
    monkeypatch.setenv("FD_DATA_DIR", str(tmp_path / "data"))

    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        target = ModuleTarget(module_name="fd_pipeline.definitions", attribute=None,
                              working_directory=str(ROOT), location_name="fd_pipeline")
        with WorkspaceProcessContext(instance, target) as workspace:
            context = workspace.create_request_context()
            selector = {"repositoryLocationName": "fd_pipeline", "repositoryName": "__repository__"}
            result = execute_dagster_graphql(context, RESOURCE_VIEW, {"selector": selector})

    assert not result.errors, result.errors
    listing = result.data["allTopLevelResourceDetailsOrError"]
    assert listing["__typename"] == "ResourceDetailsList", listing
    shown = {r["name"]: r for r in listing["results"]}
    assert set(shown) == set(RESOURCES)
    for name, details in shown.items():
        values = {v["key"]: (v["type"], v["value"]) for v in details["configuredValues"]}
        assert {f["name"] for f in details["configFields"]} == set(values) == {s.field for s in settings.of_resource(name)}
        for setting in settings.of_resource(name):
            kind, value = values[setting.field]
            if setting.secret:
                assert (kind, value) == ("ENV_VAR", setting.env), setting.env
            elif settings.raw(setting) is not None and setting.kind in (str, int):
                assert (kind, value) == ("ENV_VAR", setting.env), setting.env
            else:
                assert kind == "VALUE" and value == _json(settings.value(setting.env)), setting.env
    assert shown["sync_settings"]["configuredValues"]  # FD_KB_LANGUAGES parsed: a value, not a variable
    assert set(secrets) <= {v["envVarName"] for v in result.data["utilizedEnvVarsOrError"]["results"]}

    text = repr(result.data)
    for secret in secrets.values():
        assert secret not in text
    assert "5ecret" not in text and "pw-" not in text


def _json(value) -> str:
    import json

    return json.dumps(value)

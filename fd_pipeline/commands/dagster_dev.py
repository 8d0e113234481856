"""`dagster dev` as `fd-pipeline ui` and `fd-pipeline demo --ui` run it: Dagster's own command,
without two notices that do not apply to them.

- Dagster 1.13 marks `dagster dev` superseded by `dg dev` (a SupersessionWarning at every start).
  The commands keep `dagster dev -m fd_pipeline.definitions`: the demo records its run under that
  code location, so the UI links it to its job and re-executes it (`dg dev` names the location
  `fd_pipeline`, after pyproject.toml). Both work on this repository (README, The UI).
- It warns that the repository's dagster.yaml is not the one in use when DAGSTER_HOME is set
  elsewhere. The commands copy that file into their DAGSTER_HOME (commands/instance.py), so it is.
  Running from DAGSTER_HOME instead would silence it, but relative paths in the settings
  (`./data`, a relative FD_EMBED_MODEL) follow the working directory of every process it starts.

Everything else Dagster logs or warns is shown as `dagster dev` shows it.
"""

from __future__ import annotations

import logging
import sys
import warnings
from importlib.metadata import entry_points

HOME_NOTICE = "in the current folder, but your DAGSTER_HOME environment variable is set"


class _WithoutHomeNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return HOME_NOTICE not in record.getMessage()


def main() -> None:
    warnings.filterwarnings("ignore", message=r"Function `dev_command` is superseded")
    # Dagster configures the logger's handlers later; a logger's filters stay.
    logging.getLogger("dagster").addFilter(_WithoutHomeNotice())
    (dagster,) = entry_points(group="console_scripts", name="dagster")
    sys.argv = ["dagster", "dev", *sys.argv[1:]]
    sys.exit(dagster.load()())


if __name__ == "__main__":
    main()

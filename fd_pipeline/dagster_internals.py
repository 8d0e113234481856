"""Every use of Dagster's private modules (`dagster._...`) outside the SQLite storage, fenced.

Three things this project does have no public API in Dagster 1.13, so they lean on internals no
release promises:

- `instance_defaults`: the instance settings Dagster gives an instance class that does not name
  its own (`InstanceRef.config_defaults`), which `dagster_storage.Instance` starts from.
- `add_metadata_per_partition`: one materialisation's metadata for many partitions at once, in
  the step's metadata accumulator; the public `context.add_asset_metadata(partition_key=...)`
  copies every entry so far on each call (quadratic: minutes for a year of hours).
- `execute_location_job`: a run of a code location's job in this process, recorded as the UI
  records its own launches (with the location's origin, so the UI lists it under its job).

They apply only to the Dagster versions in `VERIFIED_VERSIONS`. On any other version each takes
Dagster's public path instead (logged once), and fd_pipeline_tests/test_dagster_internals.py
fails, naming the version, until the internals are re-verified there: `instance_defaults` is then
Dagster's own (`dagster_storage.Instance` gives Dagster's own storage), metadata goes through
`context.add_asset_metadata`, and a job runs through `execute_in_process` (the UI shows the run
without its code location). The SQLite storage that subclasses Dagster's
(`fd_pipeline/dagster_sqlite.py`) is loaded only on a verified version.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import dagster as dg

log = logging.getLogger(__name__)

VERIFIED_VERSIONS = ("1.13.27",)


def dagster_version() -> str:
    return dg.__version__


@lru_cache(maxsize=1)
def internals_apply() -> bool:
    """True when the installed Dagster is one the internals were verified on; logs once otherwise."""
    if dagster_version() in VERIFIED_VERSIONS:
        return True
    log.warning("Dagster %s is not one of %s that fd_pipeline's use of Dagster internals was verified on: "
                "Dagster's own instance storage, per-partition metadata calls and execute_in_process are used "
                "instead (fd_pipeline/dagster_internals.py)", dagster_version(), VERIFIED_VERSIONS)
    return False


def instance_defaults(base_dir: str, *, storage: tuple[str, str, Mapping[str, Any]] | None = None) -> dict:
    """The settings Dagster gives an instance in `base_dir` by default; with `storage` (module,
    class, config) on a verified version, that class as the default storage instead."""
    import yaml
    from dagster._core.instance.ref import InstanceRef

    defaults = dict(InstanceRef.config_defaults(base_dir))
    if storage is not None and internals_apply():
        from dagster._serdes import ConfigurableClassData

        module, name, config = storage
        defaults["storage"] = ConfigurableClassData(module, name, yaml.dump(dict(config), default_flow_style=False))
    return defaults


def add_metadata_per_partition(context: dg.AssetExecutionContext, by_partition: Mapping[str, dict]) -> None:
    """Attach each partition's metadata to its materialisation in one update (verified versions,
    in the step's metadata accumulator), else with one public call per partition."""
    if internals_apply() and _add_to_accumulator(context, by_partition):
        return
    for partition, metadata in by_partition.items():
        context.add_asset_metadata(metadata, partition_key=partition)


def _add_to_accumulator(context: dg.AssetExecutionContext, by_partition: Mapping[str, dict]) -> bool:
    from dagster._core.execution.context.metadata_logging import AssetMetadataHandle, OutputMetadataAccumulator

    step = getattr(context.op_execution_context, "_step_execution_context", None)
    accumulator = getattr(step, "_metadata_accumulator", None)
    if not isinstance(accumulator, OutputMetadataAccumulator):
        return False
    entries = dict(accumulator.per_output_metadata)
    for partition, metadata in by_partition.items():
        handle = AssetMetadataHandle(asset_key=context.asset_key, partition_key=partition)
        entries[handle] = {**entries.get(handle, {}), **metadata}
    step._metadata_accumulator = OutputMetadataAccumulator(per_output_metadata=entries)
    return True


def execute_location_job(instance: dg.DagsterInstance, module: str, job_name: str, *, tags: dict, run_config: dict,
                         attribute: str = "defs", repository: str = "__repository__") -> dg.DagsterRun:
    """Run `job_name` of the code location `module` (its `Definitions` at `attribute`) in this
    process and return the finished run.

    Verified versions: the run carries the location's origin (the one `dagster dev -m <module>`
    loads), so the UI lists it under its job, links "View job" and can re-execute it. Otherwise
    the job runs with `execute_in_process`: same steps, checks and tags, no origin.
    The module is loaded again first, so a process that loaded it before runs the environment's
    resources as they are now, as a launched run's own process would.
    """
    if module in sys.modules:
        importlib.reload(sys.modules[module])
    else:
        importlib.import_module(module)
    if not internals_apply():
        defs = getattr(sys.modules[module], attribute)
        result = defs.resolve_job_def(job_name).execute_in_process(
            instance=instance, tags=tags, run_config=run_config, raise_on_error=False)
        return instance.get_run_by_id(result.run_id)

    from dagster._core.definitions.reconstruct import ReconstructableJob, ReconstructableRepository
    from dagster._core.execution.api import execute_run
    from dagster._core.remote_origin import RemoteJobOrigin, RemoteRepositoryOrigin
    from dagster._core.workspace.load import location_origin_from_module_name

    # Dagster keeps the last job a reconstructable job loaded (`lru_cache` on value-equal tuples):
    # without clearing it, a second run in one process would run the first one's resources.
    for cached in (ReconstructableJob.get_definition, ReconstructableJob.get_repository_definition):
        getattr(cached, "cache_clear", lambda: None)()
    cwd = os.getcwd()
    recon_job = ReconstructableRepository.for_module(module, attribute, cwd).get_reconstructable_job(job_name)
    job_def = recon_job.get_definition()
    location = location_origin_from_module_name(module, None, cwd)
    origin = RemoteJobOrigin(RemoteRepositoryOrigin(location, repository), job_name)
    run = instance.create_run_for_job(job_def, run_config=run_config, tags=tags, remote_job_origin=origin,
                                      job_code_origin=recon_job.get_python_origin())
    execute_run(recon_job, run, instance)
    return instance.get_run_by_id(run.run_id)

"""A patch of FlagEmbedding's internals: serve `encode()`'s second forward pass of its first batch from the first.

FlagEmbedding 1.4.2's `encode_single_device` (both `BGEM3FlagModel` and `FlagModel`) runs the
longest `batch_size` texts once to probe a batch size that fits in memory, then runs them again
as the first batch of its loop: on a CPU that is one batch of wasted work per call (20-80 % of a
small call at batch 32, measured in bench/pipeline.py). `reuse_probe_batch` keeps the first
forward's output and hands it back when the very next forward gets the same inputs.

It relies on internals no API promises: the wrapped torch module at `flag_model.model`, the
probe being the first forward and the loop's first batch the second. So it applies only to the
FlagEmbedding versions in `VERIFIED_VERSIONS`; on any other version encode runs unpatched (a
warning is logged once) and fd_pipeline_tests/test_flag_patch.py fails, naming the version, until
the patch is re-verified there.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import contextmanager
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

log = logging.getLogger(__name__)

VERIFIED_VERSIONS = ("1.4.2",)


@lru_cache(maxsize=1)
def flagembedding_version() -> str:
    try:
        return version("FlagEmbedding")
    except PackageNotFoundError:
        return "not installed"


@lru_cache(maxsize=1)
def patch_applies() -> bool:
    """True when the installed FlagEmbedding is one the patch was verified on; logs once otherwise."""
    if flagembedding_version() in VERIFIED_VERSIONS:
        return True
    log.warning("FlagEmbedding %s is not one of %s that reuse_probe_batch was verified on: encode() runs "
                "unpatched (one extra forward pass per call)", flagembedding_version(), VERIFIED_VERSIONS)
    return False


@contextmanager
def reuse_probe_batch(flag_model: Any):
    """Within the block, `flag_model.encode` computes its first batch once (verified versions only)."""
    if not patch_applies():
        yield
        return
    with serve_probe_twice(flag_model):
        yield


@contextmanager
def serve_probe_twice(flag_model: Any):
    """The patch itself, whatever the version: the first forward's output is handed back when the
    second forward gets the same inputs; any other call goes to the model as usual."""
    inner = getattr(flag_model, "model", None)
    if inner is None or not hasattr(inner, "forward"):
        yield
        return
    original = inner.forward
    own = vars(inner).get("forward")  # an instance-level forward set by someone else, kept as is
    state: dict[str, Any] = {"calls": 0, "inputs": None, "output": None}

    def forward(*args: Any, **kwargs: Any):
        state["calls"] += 1
        inputs = _inputs(args, kwargs)
        if state["calls"] == 2 and state["inputs"] is not None and _same_inputs(inputs, state["inputs"]):
            output, state["output"], state["inputs"] = state["output"], None, None
            return output
        output = original(*args, **kwargs)
        if state["calls"] == 1:
            state["inputs"], state["output"] = inputs, output
        else:
            state["inputs"] = state["output"] = None
        return output

    inner.forward = forward
    try:
        yield
    finally:
        if own is not None:
            inner.forward = own
        else:
            del inner.forward  # back to the class's forward


def _inputs(args: tuple, kwargs: dict) -> dict[str, Any]:
    """One forward call's arguments by name: bge-m3's wrapper takes the tokenizer's batch as its
    first argument, a transformers model takes it as keywords. None values are dropped, since
    1.4.2's loop passes `truncate_dim=None` where its probe passes nothing."""
    merged: dict[str, Any] = {}
    if args and isinstance(args[0], Mapping):
        merged.update(args[0])
        args = args[1:]
    merged.update(kwargs)
    merged.update({f"#{i}": a for i, a in enumerate(args)})
    return {k: v for k, v in merged.items() if v is not None}


def _same_inputs(a: dict[str, Any], b: dict[str, Any]) -> bool:
    import torch

    if a.keys() != b.keys() or "input_ids" not in a:
        return False
    for key, x in a.items():
        y = b[key]
        if isinstance(x, torch.Tensor) or isinstance(y, torch.Tensor):
            if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)
                    and x.shape == y.shape and bool(torch.equal(x, y))):
                return False
        elif x is not y and x != y:
            return False
    return True

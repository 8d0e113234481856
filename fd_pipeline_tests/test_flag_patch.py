"""The FlagEmbedding internals patch (fd_pipeline/embedding/flag_patch.py) against the installed FlagEmbedding.

`reuse_probe_batch` leans on how FlagEmbedding's `encode()` runs its batches. These tests fail,
naming the installed version, when that changes: the patch must then be re-verified (the
behaviour tests below, run on the new version) before its version joins `VERIFIED_VERSIONS`.
Real FlagEmbedding code on the tiny bge-m3-shaped model, loaded both as bge-m3 and as a dense model.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pytest

from fd_pipeline.embedding.flag_patch import (
    VERIFIED_VERSIONS,
    flagembedding_version,
    patch_applies,
    reuse_probe_batch,
    serve_probe_twice,
)

INSTALLED = flagembedding_version()
CHANGED = (f"FlagEmbedding {INSTALLED} is installed; the probe-batch patch (embedding/flag_patch.py) was "
           f"verified on {', '.join(VERIFIED_VERSIONS)} only")
TEXTS = [f"invoice {i} export fails with error {i * 7} 결제 오류" * (1 + i % 5) for i in range(40)]


def test_flagembedding_is_a_verified_version() -> None:
    assert INSTALLED in VERIFIED_VERSIONS, (
        f"{CHANGED}: its encode() internals may have changed. Run this file's other tests on {INSTALLED}; "
        "if they pass, add the version to VERIFIED_VERSIONS, otherwise fix or drop the patch.")
    assert patch_applies()


@contextmanager
def counting_forwards(flag_model):
    """A list that gets one entry per forward pass the model's torch module really runs (set
    beneath any patch entered inside the block)."""
    inner = flag_model.model
    forward, calls = inner.forward, []

    def counting(*args, **kwargs):
        calls.append(1)
        return forward(*args, **kwargs)

    inner.forward = counting
    try:
        yield calls
    finally:
        del inner.forward


@pytest.fixture(scope="module")
def flag_models(tiny_model_dir):
    from FlagEmbedding import BGEM3FlagModel, FlagModel

    common = dict(use_fp16=False, devices="cpu", normalize_embeddings=True)
    return {"bge-m3": BGEM3FlagModel(str(tiny_model_dir), return_sparse=True, **common),
            "dense": FlagModel(str(tiny_model_dir), pooling_method="cls", **common)}


@pytest.mark.parametrize("kind", ["bge-m3", "dense"])
def test_the_probe_batch_is_computed_once_with_identical_results(flag_models, kind) -> None:
    """FlagEmbedding runs its first batch twice (a batch-size probe, then the loop); patched, the
    second run is served from the first, and encode's output is bit-identical."""
    model = flag_models[kind]

    def encode():
        return model.encode(TEXTS, batch_size=16, max_length=128)

    with counting_forwards(model) as calls:
        raw = encode()
        raw_calls = len(calls)
        calls.clear()
        with serve_probe_twice(model):
            patched = encode()
        patched_calls = len(calls)
    assert raw_calls == 4, f"{CHANGED}: encode() ran {raw_calls} forward passes for 3 batches, not 3 + 1 probe"
    assert patched_calls == 3, f"{CHANGED}: with the patch encode() still ran {patched_calls} forward passes, not 3"
    if kind == "bge-m3":
        assert np.array_equal(raw["dense_vecs"], patched["dense_vecs"]), f"{CHANGED}: dense vectors differ"
        assert raw["lexical_weights"] == patched["lexical_weights"], f"{CHANGED}: sparse weights differ"
    else:
        assert np.array_equal(raw, patched), f"{CHANGED}: dense vectors differ"
    assert "forward" not in vars(model.model)  # the class's forward is back


def test_only_a_repeat_of_the_first_forward_is_served(flag_models) -> None:
    """The second forward is served only when its inputs equal the first's; a third never is."""
    import torch

    model = flag_models["dense"]
    a = model.tokenizer(TEXTS[:2], padding=True, return_tensors="pt")
    b = model.tokenizer(TEXTS[2:4], padding=True, return_tensors="pt")
    with torch.no_grad(), counting_forwards(model) as calls:
        with serve_probe_twice(model):
            first = model.model(**a, return_dict=True).last_hidden_state
            other = model.model(**b, return_dict=True).last_hidden_state
        assert len(calls) == 2  # different inputs: run
        calls.clear()
        with serve_probe_twice(model):
            model.model(**a, return_dict=True)
            model.model(**a, return_dict=False)
        assert len(calls) == 2  # same ids, different arguments: run
        calls.clear()
        with serve_probe_twice(model):
            model.model(**a, return_dict=True)
            again = model.model(**a, return_dict=True).last_hidden_state
            model.model(**a, return_dict=True)
        assert len(calls) == 2  # the repeat served, the third call run
    assert torch.equal(first, again) and not torch.equal(first[:, :1], other[:, :1])


def test_an_unverified_version_runs_unpatched(flag_models, monkeypatch) -> None:
    from fd_pipeline.embedding import flag_patch

    monkeypatch.setattr(flag_patch, "patch_applies", lambda: False)
    model = flag_models["dense"]
    with counting_forwards(model) as calls, reuse_probe_batch(model):
        model.encode(TEXTS, batch_size=16, max_length=128)
    assert len(calls) == 4  # 3 batches + the probe, as FlagEmbedding runs them

"""FD_EMBED_PRECISION=int8 and `fd-pipeline embed-check`.

Contract: fp32 stays the default and keeps its identity key; int8 is opt-in, CPU-only, and a
different model identity (key suffix `-int8`, so its vectors get their own collection and its
content hashes their own cache entries); quantisation replaces the encoder's Linear layers and
leaves bge-m3's heads and any fp32 model loaded in the same process alone; the agreement
measures are right on hand-made vectors; embed-check runs on a real (tiny) model folder and
prints a verdict, with a one-line error for a sample too small to rank 10 neighbours.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from fd_pipeline import cli
from fd_pipeline.embedding import EmbedderConfig, agreement, make_embedder
from fd_pipeline.embedding.quantize import encoder_of


@pytest.fixture(scope="module")
def pair(tiny_embedder):
    """The session's fp32 embedder and the same configuration at int8."""
    return tiny_embedder, make_embedder(replace(tiny_embedder.config, precision="int8"))


def test_precision_is_part_of_the_identity_and_the_cache_key(pair, tiny_model_dir):
    fp32, int8 = pair
    default = make_embedder(EmbedderConfig(model=str(tiny_model_dir), device="cpu", max_tokens=128))
    assert fp32.identity.key == default.identity.key
    assert not fp32.identity.key.endswith("-int8")
    assert int8.identity.key == f"{fp32.identity.key}-int8"
    assert int8.identity.fingerprint == fp32.identity.fingerprint
    assert fp32.content_hash("login fails") != int8.content_hash("login fails")


def test_precision_setting(monkeypatch):
    from fd_pipeline.resources import configured

    monkeypatch.delenv("FD_EMBED_PRECISION", raising=False)
    assert configured("embedder").config().precision == "fp32"
    monkeypatch.setenv("FD_EMBED_PRECISION", "INT8")
    assert configured("embedder").config().precision == "int8"
    monkeypatch.setenv("FD_EMBED_PRECISION", "fp16")
    with pytest.raises(ValueError, match="FD_EMBED_PRECISION"):
        configured("embedder").config()
    with pytest.raises(ValueError, match="CPU path"):
        EmbedderConfig(device="cuda", precision="int8")


def test_int8_quantises_the_encoder_only_and_leaves_fp32_alone(pair):
    fp32, int8 = pair
    fp32.load()
    int8.load()
    int8_encoder = encoder_of(int8._model().model)
    assert not [n for n, m in int8_encoder.named_modules() if type(m) is torch.nn.Linear]
    assert int8_encoder.get_submodule("encoder.layer.0.intermediate.dense").__class__.__name__ == "_RowScaledInt8Linear"
    heads = int8._model().model.model
    assert type(heads.sparse_linear) is torch.nn.Linear and type(heads.colbert_linear) is torch.nn.Linear
    assert [n for n, m in encoder_of(fp32._model().model).named_modules() if type(m) is torch.nn.Linear]


def test_int8_vectors_stay_close_to_fp32(pair):
    fp32, int8 = pair
    texts = ["I cannot login after the password reset", "결제 실패 환불 요청드립니다", "the app crashes on android"]
    a, b = fp32.embed(texts), int8.embed(texts)
    cosines = agreement.dense_cosines(np.stack([e.dense for e in a]), np.stack([e.dense for e in b]))
    assert cosines.min() > 0.95
    for x, y in zip(a, b):
        assert x.tokens == y.tokens
        assert agreement.sparse_overlap(dict(zip(x.sparse_indices, x.sparse_values)),
                                        dict(zip(y.sparse_indices, y.sparse_values))) > 0.7


def test_agreement_measures_on_known_vectors():
    a = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]])
    b = np.array([[1.0, 0.0], [0.0, -1.0], [4.0, 3.0]])
    assert agreement.dense_cosines(a, b).round(4).tolist() == [1.0, -1.0, 0.96]
    points = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    assert agreement.neighbour_overlap(points, points, k=1).tolist() == [1.0] * 4
    swapped = points[[0, 2, 1, 3]]  # rows 1 and 2 trade places: each row's nearest neighbour changes
    assert agreement.neighbour_overlap(points, swapped, k=1).tolist() == [0.0, 0.0, 0.0, 0.0]
    assert agreement.sparse_overlap({1: 0.5, 2: 0.5}, {1: 0.25, 3: 0.25}) == pytest.approx(0.25 / 1.25)
    assert agreement.sparse_overlap({}, {}) == 1.0
    assert agreement.sparse_scores([{1: 1.0}, {1: 2.0, 2: 1.0}]).tolist() == [[1.0, 2.0], [2.0, 5.0]]
    with pytest.raises(ValueError):
        agreement.neighbour_overlap(points[:1], points[:1])


def test_embed_check_prints_a_verdict(tiny_model_dir, capsys):
    assert cli.main(["embed-check", "--model", str(tiny_model_dir), "--texts", "12", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["texts"] == 12 and result["tokens"] > 12 * 40
    assert 0.9 < result["cosine_mean"] <= 1.0 and 0 <= result["top10_overlap_mean"] <= 1
    assert result["sparse_overlap_mean"] is not None and 0 <= result["sparse_top10_overlap_mean"] <= 1
    assert result["fp32_tokens_per_s"] > 0 and result["int8_tokens_per_s"] > 0
    assert result["agrees"] == (not result["failed_targets"])

    assert cli.main(["embed-check", "--model", str(tiny_model_dir), "--texts", "12"]) == 0
    out = capsys.readouterr().out
    assert "dense cosine" in out and out.strip().splitlines()[-1].startswith("verdict: ")


def test_embed_check_rejects_a_sample_too_small(tiny_model_dir, capsys):
    assert cli.main(["embed-check", "--model", str(tiny_model_dir), "--texts", "5"]) == 1
    assert capsys.readouterr().err.strip() == (
        "fd-pipeline embed-check: error: --texts must be at least 11 (each text needs 10 neighbours)")

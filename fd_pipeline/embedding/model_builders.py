"""Build bge-m3-shaped model folders locally, for tests and benchmarks (nothing is downloaded).

Both builders write what `BGEM3FlagModel` expects: an XLM-RoBERTa `config.json` and
`model.safetensors`, a `tokenizer.json` (Unigram, XLM-R special ids) with its
`tokenizer_config.json`, and the two head files `colbert_linear.pt` and `sparse_linear.pt`.
Weights are random but seeded, so a folder built twice holds the same model.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

# XLM-R's special tokens and ids; FlagEmbedding drops cls/eos/pad/unk from sparse output by id.
_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
_SPACE = "\u2581"  # sentencepiece's word-boundary marker

_ENGLISH_WORDS = """
the a an and or but if then else of to in on at by for with from as is are was were be been
being have has had do does did not no yes can could will would should may might must this that
these those it its i you he she we they me him her us them my your our their what which who
when where why how all any each every some many much more most other such only own same so than
too very just also again after before above below up down out over under here there now new old
first last next good bad great small large long short high low right wrong error errors issue
issues problem problems ticket tickets customer customers support agent agents account accounts
login log password reset email emails mail phone call order orders payment payments invoice
invoices refund refunds billing bill charge charged card credit debit bank transfer price plan
subscription subscriptions upgrade downgrade cancel cancelled cancellation renew renewal trial
free premium enterprise team user users admin administrator role roles permission permissions
access denied allowed blocked locked unlock verify verification code token api key keys
integration integrations webhook webhooks sync synced syncing server servers service services
app application mobile web browser chrome firefox safari windows mac android ios update updated
updates install installed installation version versions release bug bugs crash crashed crashes
slow fast timeout timeouts connection connect connected disconnected network offline online
page pages screen button click clicked form field fields file files upload uploaded download
downloaded export import report reports dashboard settings setting profile name address data
delete deleted remove removed restore restored backup create created edit edited save saved
send sent receive received message messages notification notifications please thank thanks
hello hi dear regards team sorry help need needs want work works working worked broken fix
fixed fixing resolve resolved resolution cause caused symptom steps step try tried again still
cannot unable able get got getting see seen show shows shown open opened close closed status
pending waiting today yesterday tomorrow week month year time times day days hour hours minute
minutes second seconds number amount total shipping shipped delivery delivered package tracking
product products item items stock warehouse return returned exchange size color quantity
""".split()


# Syllables of everyday support Korean, so Korean tickets mostly avoid <unk>.
_KOREAN_TEXT = (
    "안녕하세요 감사합니다 고객님 문의 주셔서 확인 부탁드립니다 죄송합니다 불편을 드려 "
    "로그인 비밀번호 재설정 계정 잠김 인증 코드 이메일 전화 번호 주문 배송 조회 지연 "
    "결제 실패 환불 요청 취소 카드 청구서 구독 갱신 요금제 변경 업그레이드 해지 "
    "오류 발생 문제 해결 방법 원인 증상 접속 안됨 앱 업데이트 설치 삭제 복구 데이터 "
    "동기화 연동 설정 화면 버튼 페이지 파일 업로드 다운로드 알림 메시지 보내기 받기 "
    "처리 완료 대기 중 담당자 지원 팀 답변 시간 오늘 내일 어제 이번 주 월 년 "
    "사용자 관리자 권한 접근 거부 허용 서버 연결 네트워크 느림 속도 버전 최신 "
    "제품 상품 재고 반품 교환 사이즈 색상 수량 가격 할인 쿠폰 포인트 적립 "
    "있습니다 없습니다 했습니다 됩니다 않습니다 해주세요 알려주세요 어떻게 왜 언제 "
)


def _hangul_syllables(count: int | None) -> list[str]:
    """Common support syllables, then open syllables (가 개 거 ...), then the rest: `count` of them."""
    base = 0xAC00
    ordered = dict.fromkeys(ch for ch in _KOREAN_TEXT if "\uac00" <= ch <= "\ud7a3")
    ordered.update(dict.fromkeys(chr(base + i) for i in range(0, 11172, 28)))
    ordered.update(dict.fromkeys(chr(base + i) for i in range(11172)))
    syllables = list(ordered)
    return syllables if count is None else syllables[:count]


def _unigram_pieces(extra_words: tuple[str, ...], hangul: int | None) -> list[tuple[str, float]]:
    pieces: list[tuple[str, float]] = [(tok, 0.0) for tok in _SPECIALS]
    seen = set(_SPECIALS)

    def add(piece: str, score: float) -> None:
        if piece and piece not in seen:
            seen.add(piece)
            pieces.append((piece, score))

    # Whole words score higher than their spelling so the segmenter prefers them.
    for word in (*_ENGLISH_WORDS, *extra_words):
        add(_SPACE + word, -4.0)
        add(_SPACE + word.capitalize(), -4.5)
    single = string.ascii_letters + string.digits + string.punctuation
    for ch in single:
        add(ch, -10.0)
        add(_SPACE + ch, -10.5)
    add(_SPACE, -11.0)
    for syl in _hangul_syllables(hangul):
        add(syl, -7.0)
        add(_SPACE + syl, -7.5)
    return pieces


def _write_tokenizer(path: Path, extra_words: tuple[str, ...], hangul: int | None, max_tokens: int) -> int:
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    pieces = _unigram_pieces(extra_words, hangul)
    tok = Tokenizer(Unigram(pieces, unk_id=_SPECIALS.index("<unk>")))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=_SPACE, prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement=_SPACE, prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    tok.save(str(path / "tokenizer.json"))
    config = {
        "tokenizer_class": "XLMRobertaTokenizer",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "sep_token": "</s>",
        "cls_token": "<s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "mask_token": "<mask>",
        "model_max_length": max_tokens,
    }
    (path / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    return len(pieces)


def _write_model(path: Path, *, vocab_size: int, hidden: int, layers: int, heads: int, intermediate: int,
                 init_range: float = 0.02,
                 max_positions: int, seed: int) -> None:
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel

    config = XLMRobertaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
        max_position_embeddings=max_positions,
        type_vocab_size=1,
        layer_norm_eps=1e-5,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        initializer_range=init_range,
    )
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = XLMRobertaModel(config, add_pooling_layer=True).eval()
        colbert = torch.nn.Linear(hidden, hidden)
        sparse = torch.nn.Linear(hidden, 1)
    finally:
        torch.random.set_rng_state(generator_state)
    model.save_pretrained(str(path))
    torch.save(colbert.state_dict(), path / "colbert_linear.pt")
    torch.save(sparse.state_dict(), path / "sparse_linear.pt")


def build_tiny_bge_m3(path: str | Path, *, seed: int = 0, hidden: int = 32, layers: int = 2) -> Path:
    """A bge-m3-shaped model small enough to build and load in well under a second.

    The tokenizer covers ASCII, a few hundred English words and 600 common Hangul syllables,
    so different English and Korean texts get different token ids and vectors.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    vocab = _write_tokenizer(path, (), hangul=600, max_tokens=512)
    _write_model(path, vocab_size=vocab, hidden=hidden, layers=layers, heads=2, intermediate=hidden * 2,
                 max_positions=514, seed=seed,
                 # Wide random weights: at the usual 0.02 every text's CLS vector is nearly the same.
                 init_range=0.5)
    return path


def build_random_bge_m3(path: str | Path, *, seed: int = 0, extra_words: tuple[str, ...] = ()) -> Path:
    """The full bge-m3 architecture (568M parameters, ~2.3 GB) with random weights, for cost measurements.

    Same shapes as BAAI/bge-m3 (vocab 250002, hidden 1024, 24 layers); the tokenizer is the
    local Unigram one (all Hangul syllables, plus `extra_words`), so ids stay low in the vocab.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    _write_tokenizer(path, tuple(extra_words), hangul=None, max_tokens=8192)
    _write_model(path, vocab_size=250002, hidden=1024, layers=24, heads=16, intermediate=4096,
                 max_positions=8194, seed=seed)
    return path

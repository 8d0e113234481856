"""HTML -> plain text, and removal of quoted replies and signatures.

Pure functions on the stdlib `html.parser`; no network, no extra packages.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["html_to_text", "strip_quoted_and_signature"]

_BLOCK_TAGS = frozenset(
    {
        "p", "div", "section", "article", "header", "footer", "h1", "h2", "h3", "h4", "h5", "h6",
        "ul", "ol", "table", "thead", "tbody", "tr", "blockquote", "pre", "hr", "address",
        "dl", "dt", "dd", "figure", "figcaption", "form", "fieldset", "main", "nav", "aside",
    }
)
_DROP_TAGS = frozenset({"script", "style", "head", "title", "noscript", "template", "svg"})
_VOID_TAGS = frozenset({"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "wbr"})
# Freshdesk and the common mail clients mark the quoted earlier message with these.
_QUOTE_CLASSES = ("freshdesk_quote", "gmail_quote", "yahoo_quoted", "moz-cite-prefix")


class _TextExtractor(HTMLParser):
    def __init__(self, drop_quotes: bool) -> None:
        super().__init__(convert_charrefs=True)
        self._drop_quotes = drop_quotes
        self._parts: list[str] = []
        self._drop_depth = 0  # inside <script>/<style>/...
        self._quote_stack: list[str] = []  # open tags of a dropped quote block
        self._pre_depth = 0
        self._list_stack: list[list[int]] = []  # [counter] per <ol>, [-1] per <ul>

    # A dropped quote block is tracked by tag name nesting, which survives sloppy mail HTML.
    def _in_quote(self) -> bool:
        return bool(self._quote_stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._in_quote():
            if tag not in _VOID_TAGS:
                self._quote_stack.append(tag)
            return
        if tag in _DROP_TAGS:
            self._drop_depth += 1
            return
        if self._drop_quotes and tag not in _VOID_TAGS:
            classes = (dict(attrs).get("class") or "").split()
            if tag == "blockquote" or any(c in _QUOTE_CLASSES for c in classes):
                self._quote_stack.append(tag)
                return
        if tag == "br":
            self._parts.append("\n")
        elif tag == "li":
            self._newline()
            if self._list_stack and self._list_stack[-1][0] >= 0:
                self._list_stack[-1][0] += 1
                self._parts.append(f"{self._list_stack[-1][0]}. ")
            else:
                self._parts.append("- ")
        elif tag in ("td", "th"):
            self._parts.append(" ")
        elif tag in _BLOCK_TAGS:
            self._paragraph() if tag in ("p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "pre", "blockquote") else self._newline()
            if tag == "ol":
                self._list_stack.append([0])
            elif tag == "ul":
                self._list_stack.append([-1])
            elif tag == "pre":
                self._pre_depth += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._in_quote() or self._drop_depth:
            return
        if tag == "br":
            self._parts.append("\n")
        elif tag == "hr":
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if self._in_quote():
            # Pop to the matching open tag; an unmatched close tag is ignored.
            if tag in self._quote_stack:
                while self._quote_stack and self._quote_stack.pop() != tag:
                    pass
            return
        if tag in _DROP_TAGS:
            self._drop_depth = max(self._drop_depth - 1, 0)
            return
        if tag in ("ol", "ul") and self._list_stack:
            self._list_stack.pop()
        if tag == "pre":
            self._pre_depth = max(self._pre_depth - 1, 0)
        if tag in _BLOCK_TAGS or tag == "li":
            self._paragraph() if tag in ("p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "pre", "blockquote") else self._newline()

    def handle_data(self, data: str) -> None:
        if self._drop_depth or self._in_quote():
            return
        if self._pre_depth:
            self._parts.append(data.replace("\r\n", "\n"))
        else:
            self._parts.append(re.sub(r"\s+", " ", data))

    def _trailing_newlines(self) -> int:
        tail = "".join(self._parts[-4:]).rstrip(" \t")
        return len(tail) - len(tail.rstrip("\n")) if tail else 2

    def _newline(self) -> None:
        if self._trailing_newlines() < 1:
            self._parts.append("\n")

    def _paragraph(self) -> None:
        self._parts.append("\n" * max(2 - self._trailing_newlines(), 0))

    def text(self) -> str:
        raw = "".join(self._parts).replace("\xa0", " ")
        lines = [line.strip(" \t") for line in raw.split("\n")]
        out = "\n".join(lines)
        out = re.sub(r"\n{3,}", "\n\n", out)
        return out.strip()


def html_to_text(html: str | None, *, drop_quotes: bool = False) -> str:
    """Readable text of an HTML fragment: paragraphs and line breaks kept, list items as `- `,
    scripts/styles dropped, entities unescaped. `drop_quotes` also drops <blockquote> and the
    quote containers mail clients add."""
    if not html:
        return ""
    parser = _TextExtractor(drop_quotes)
    parser.feed(html)
    parser.close()
    return parser.text()


_TAG_RE = re.compile(r"<\s*/?\s*[a-zA-Z][a-zA-Z0-9]*(\s[^<>]*)?/?\s*>")

# Lines that open a quoted earlier message; everything from there on is the quote.
_QUOTE_HEADER_RES = (
    re.compile(r"^\s*on\s.{1,300}\bwrote:\s*$", re.IGNORECASE),
    re.compile(r"^\s*-{2,}\s*(original message|forwarded message|원본 메시지|전달된 메시지)\s*-{2,}\s*$", re.IGNORECASE),
    re.compile(r"^\s*_{5,}\s*$"),  # Outlook's rule above "From: ... Sent: ..."
    # Gmail/Naver in Korean: "2024년 1월 5일 (금) 오전 10:00, 홍길동 <a@b.com>님이 작성:"
    re.compile(r"^.{0,300}(\d|>|님이|님).{0,80}작성\s*:?\s*$"),
)
_OUTLOOK_FROM_RE = re.compile(r"^\s*(from|보낸 사람|보낸사람)\s*:", re.IGNORECASE)
_OUTLOOK_NEXT_RE = re.compile(
    r"^\s*(sent|date|to|cc|subject|보낸 날짜|날짜|받는 사람|받는사람|참조|제목)\s*:", re.IGNORECASE
)
_SIG_DASHES_RE = re.compile(r"^--\s?$")
_CLOSER_RE = re.compile(
    r"^\s*(best regards|kind regards|warm regards|regards|best wishes|best|thanks|thank you|thanks again|"
    r"many thanks|thanks in advance|cheers|sincerely|yours sincerely|yours truly|"
    r"감사합니다|고맙습니다|감사드립니다|수고하세요|수고하십시오|좋은 하루 되세요|좋은 하루 보내세요)\s*[,.!~^]*\s*$",
    re.IGNORECASE,
)
# Trailing lines that are never message: an agent's "Name | Product Support" sign-off (mail
# clients put it after the body with no closer, so the closer rule cannot find it), a Korean
# "홍길동 드림/올림", and mobile footers.
_SIGNOFF_RES = (
    re.compile(r"^[^|\n]{1,60}\s\|\s[^|\n]{0,60}(support|help ?desk|customer care|service desk|team|"
               r"고객지원|고객 지원|고객센터|지원팀|상담팀|팀)\s*$", re.IGNORECASE),
    re.compile(r"^\s*\S{1,20}( \S{1,20})?\s(드림|올림)\s*$"),
    re.compile(r"^\s*(sent from my \S.{0,40}|get outlook for \S.{0,30}|\S.{0,30}에서 보냄)\s*$", re.IGNORECASE),
)
# Opening lines that only greet. A line with a question or any fact in it is message and stays.
_THANKS_FOR = (r"(thanks|thank you) (for|so much for) (your patience|reaching out|contacting us|getting in touch|"
               r"waiting|writing in)[.!]?")
_GREETING_RES = (
    re.compile(r"^\s*(hi|hello|hey|dear|good (morning|afternoon|evening))\b[^.!?:;\n]{0,40}[,.!:]?\s*"
               r"(" + _THANKS_FOR + r")?\s*$", re.IGNORECASE),
    re.compile(r"^\s*" + _THANKS_FOR + r"\s*$", re.IGNORECASE),
    # "안녕하세요,", "안녕하세요 고객님,", "김민준님, 안녕하세요.", "안녕하세요. 문의드립니다."
    re.compile(r"^\s*(\S{1,12}\s?(고객)?님[,.]?\s*)?(안녕하세요|안녕하십니까)\s*(\S{1,12}\s?(고객)?님)?[,.!~]*\s*"
               r"(문의(드립|를 드립)니다[.!]?|\S{0,10}입니다[.]?)?\s*$"),
    re.compile(r"^\s*수고(가)? ?(많으십니다|많으세요|하십니다)[.!~]*\s*$"),
    # "김민준님, 기다려 주셔서 감사합니다.", "문의해 주셔서 감사합니다."
    re.compile(r"^\s*(\S{1,12}\s?(고객)?님[,.]?\s*)?(오래\s)?(기다려|문의해|연락해|연락) ?주셔서 (대단히 |정말 )?"
               r"(감사합니다|감사드립니다|고맙습니다)[.!~]*\s*$"),
)
_MAX_GREETING_LINES = 3
_MAX_NAME_BLOCK_LINES = 6
_MAX_NAME_LINE_CHARS = 80


def _cut_quote(lines: list[str]) -> list[str]:
    for i, line in enumerate(lines):
        joined = line if i + 1 >= len(lines) else f"{line} {lines[i + 1]}"
        if any(r.match(line) for r in _QUOTE_HEADER_RES):
            return lines[:i]
        # "On Mon, 1 Jan 2024, Jane <j@x.com>\nwrote:" wraps over two lines in many clients.
        if line.strip().lower().startswith("on ") and _QUOTE_HEADER_RES[0].match(joined):
            return lines[:i]
        if _OUTLOOK_FROM_RE.match(line) and any(_OUTLOOK_NEXT_RE.match(n) for n in lines[i + 1 : i + 4]):
            return lines[:i]
    return lines


def _cut_signature(lines: list[str]) -> list[str]:
    for i in range(len(lines) - 1, -1, -1):
        if _SIG_DASHES_RE.match(lines[i]):
            return lines[:i]
    end = len(lines)
    while end and (not lines[end - 1].strip() or any(r.match(lines[end - 1]) for r in _SIGNOFF_RES)):
        end -= 1
    lines = lines[:end]
    # A closer counts only when what follows looks like a name block, not more message.
    tail_start = max(len(lines) - _MAX_NAME_BLOCK_LINES - 1, 0)
    for i in range(tail_start, len(lines)):
        if _CLOSER_RE.match(lines[i]):
            rest = [l for l in lines[i + 1 :] if l.strip()]
            if len(rest) <= _MAX_NAME_BLOCK_LINES and all(len(l) <= _MAX_NAME_LINE_CHARS for l in rest):
                return lines[:i]
    return lines


def _cut_greeting(lines: list[str]) -> list[str]:
    start, dropped = 0, 0
    while start < len(lines) and dropped < _MAX_GREETING_LINES:
        if not lines[start].strip():
            start += 1
        elif any(r.match(lines[start]) for r in _GREETING_RES):
            start, dropped = start + 1, dropped + 1
        else:
            break
    return lines[start:] if dropped else lines


def _nonblank(lines: list[str]) -> bool:
    return any(l.strip() for l in lines)


def strip_quoted_and_signature(text: str | None) -> str:
    """The new part of a message: quoted earlier messages, a trailing signature (closer and name
    block, "Name | Product Support" sign-off, "Sent from my phone") and an opening greeting
    ("Hi Emma,", "안녕하세요 고객님,", "기다려 주셔서 감사합니다.") removed, in English and Korean.

    Accepts plain text or HTML (HTML also loses its <blockquote>s). Conservative: a step that
    would leave nothing is skipped, so the whole body is never stripped.
    """
    if not text:
        return ""
    if _TAG_RE.search(text):
        unquoted = html_to_text(text, drop_quotes=True)
        text = unquoted if unquoted.strip() else html_to_text(text)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")

    for step in (_cut_quote, lambda ls: [l for l in ls if not l.lstrip().startswith(">")], _cut_signature,
                 _cut_greeting):
        candidate = step(lines)
        if _nonblank(candidate):
            lines = candidate
    out = "\n".join(l.rstrip() for l in lines)
    return re.sub(r"\n{3,}", "\n\n", out).strip()

"""Texts no tokenizer can take, found before the tokenizer so the reason names the character."""

from __future__ import annotations


def invalid_character(text: str) -> str | None:
    """Why `text` cannot be embedded, or None. A lone surrogate (what a JSON `\\ud800` escape
    decodes to) has no UTF-8 form: tokenizers fail on it with a bare TypeError."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        return f"text contains an invalid character (lone surrogate U+{code:04X} at position {exc.start})"
    return None

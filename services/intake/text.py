"""Free text from people (names, notes) made safe to show: nothing invisible, nothing that
reorders what is around it.

Stripped, not refused: a resident in an emergency whose note or name carries a stray
zero-width joiner (an emoji sequence, a pasted text) must still get through. Removed are

- control characters (Unicode Cc): in a name all of them (a line break or tab becomes a
  space); in a note all but the line break (``\\r\\n`` and ``\\r`` become ``\\n``, a tab a space);
- format characters (Cf): bidi embeddings, overrides and isolates (U+202A-U+202E,
  U+2066-U+2069), marks (U+200E, U+200F, U+061C), zero-width space, joiners (U+200B-U+200D),
  word joiner and invisible operators (U+2060-U+2064), the byte-order mark (U+FEFF), the soft
  hyphen and the rest of the category;
- line and paragraph separators (U+2028, U+2029): a space in a name, a line break in a note;
- letters that draw nothing (Hangul fillers U+115F, U+1160, U+3164, U+FFA0, the Braille blank
  U+2800, the combining grapheme joiner U+034F);
- lone surrogates (Cs) never arrive here: they are no valid text and are refused (422) first.

A name that is empty once cleaned is refused (422): a name shows on the board.
"""

from __future__ import annotations

import unicodedata

# Letters that draw nothing (Hangul fillers, the Braille blank, the combining grapheme joiner).
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f")
_BREAKS = {"\r\n": "\n", "\r": "\n", "\u2028": "\n", "\u2029": "\n", "\x85": "\n"}


def _clean(text: str, keep_newlines: bool) -> str:
    if text.isprintable() and _BLANK_LETTERS.isdisjoint(text):
        # Nothing to remove or replace (the common case, without a step per character):
        # printable text has no Cc, Cf, Cs, Zl or Zp character, nor a tab or a line break.
        return text.strip()
    return _clean_each(text, keep_newlines)


def _clean_each(text: str, keep_newlines: bool) -> str:
    for old, new in _BREAKS.items():
        text = text.replace(old, new)
    out: list[str] = []
    for char in text:
        if char == "\n":
            out.append("\n" if keep_newlines else " ")
        elif char == "\t":
            out.append(" ")
        elif char in _BLANK_LETTERS or unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            continue
        else:
            out.append(char)
    return "".join(out).strip()


def clean_name(text: str) -> str:
    """One line, nothing invisible or reordering; runs of spaces become one."""
    return " ".join(_clean(text, keep_newlines=False).split())


def clean_note(text: str) -> str:
    """Lines kept; nothing else invisible or reordering."""
    return _clean(text, keep_newlines=True)

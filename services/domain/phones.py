"""A resident's phone, as typed, to one canonical form: ``+`` and the digits with country code.

``13900000001``, ``+86 139 0000 0001``, ``139-0000-0001``, ``(139)00000001`` and
``008613900000001`` are one phone, ``+8613900000001``: rate limits and idempotency count it
once. Pure (no I/O). Only a resident's input is normalised: the roster's phones (short
emergency numbers such as ``119`` among them) are roster data and kept as written.

Rules, in order:

- the only characters are digits, spaces, ``-``, ``.``, ``(``, ``)`` and one leading ``+``;
- ``+`` or the international prefix ``00`` starts a number that carries its country code;
- an 11-digit Chinese mobile number written with its country code but without ``+``
  (``8613900000001``) carries it too;
- otherwise the number is national: one trunk ``0`` is dropped (``010 6552 9988``) and the
  default country code (86) is put in front;
- at least ``MIN_DIGITS`` digits as typed (fewer is no phone: ``---``, ``12``) and at most 15
  with the country code (E.164).
"""

from __future__ import annotations

import re

DEFAULT_COUNTRY_CODE = "86"
MIN_DIGITS = 5
MAX_DIGITS = 15  # E.164, country code included
_SHAPE = re.compile(r"\+?[0-9 ().\-]+")
_SEPARATORS = re.compile(r"[ ().\-]")
_CN_MOBILE_WITH_CODE = re.compile(r"861[3-9][0-9]{9}")


class NotAPhone(ValueError):
    pass


def normalise_phone(raw: str, country_code: str = DEFAULT_COUNTRY_CODE) -> str:
    """The canonical form of ``raw`` (``+<country code><number>``); NotAPhone if it is none."""
    text = raw.strip()
    if not _SHAPE.fullmatch(text):
        raise NotAPhone("a phone is digits, with spaces, '-', '.', '(', ')' and one leading '+'")
    digits = _SEPARATORS.sub("", text)
    international = digits.startswith("+")
    digits = digits.lstrip("+")
    if len(digits) < MIN_DIGITS:
        raise NotAPhone(f"a phone has at least {MIN_DIGITS} digits")
    if international:
        full = digits
    elif digits.startswith("00"):
        full = digits[2:]
    elif _CN_MOBILE_WITH_CODE.fullmatch(digits):
        full = digits
    else:
        full = country_code + (digits[1:] if digits.startswith("0") else digits)
    if full.startswith("0") or len(full) < MIN_DIGITS:
        raise NotAPhone("a country code does not start with 0")
    if len(full) > MAX_DIGITS:
        raise NotAPhone(f"a phone has at most {MAX_DIGITS} digits with its country code")
    return "+" + full

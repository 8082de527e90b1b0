"""全国地方公共団体コード: the 6-digit national local-government code and its check digit."""

from __future__ import annotations

import re

_CODE = re.compile(r"^[0-9]{6}$")
_WEIGHTS = (6, 5, 4, 3, 2)


def check_digit(first_five: str) -> int:
    """The sixth digit: 11 minus the weighted sum mod 11, keeping the units digit."""
    total = sum(int(digit) * weight for digit, weight in zip(first_five, _WEIGHTS, strict=True))
    return (11 - total % 11) % 10


def is_valid_code(code: str) -> bool:
    return bool(_CODE.match(code)) and check_digit(code[:5]) == int(code[5])


def validate_code(code: str) -> str:
    """Return the code, or raise ValueError with a message that says what is wrong."""
    if not _CODE.match(code):
        raise ValueError(
            f"地方公共団体コードは6桁の数字です / a local-government code is 6 digits: {code!r}"
        )
    expected = check_digit(code[:5])
    if expected != int(code[5]):
        raise ValueError(
            f"検査数字が違います（{code[:5]}{expected}） / wrong check digit in {code} "
            f"(expected {code[:5]}{expected})"
        )
    return code

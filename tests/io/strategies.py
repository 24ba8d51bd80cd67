"""Hypothesis strategies shared by the file-format tests in this folder."""

from __future__ import annotations

from hypothesis import strategies as st

#: Characters that reach the parsers' interesting branches: digits, signs, separators, "nan",
#: "inf", line ends, "=".
DAMAGE_ALPHABET = "0123456789.,-+e\tnaif \n\r="


@st.composite
def damaged(draw: st.DrawFn, text: str) -> str:
    """``text`` with one to four characters inserted, deleted or replaced."""
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        how = draw(st.sampled_from(["insert", "delete", "replace"]))
        char = draw(st.sampled_from(DAMAGE_ALPHABET))
        if how == "insert":
            text = text[:at] + char + text[at:]
        elif how == "delete":
            text = text[:at] + text[at + 1 :]
        else:
            text = text[:at] + char + text[at + 1 :]
    return text

"""Gender as customers' files write it, stored as one of three words: `female`, `male`, `other`.

One table for imports, the API and rule values, so `gender = "F"` and `gender = "female"`
select the same customers and the builder offers three choices, not every spelling a file held.
Words that say "not given" (prefer not to say, unknown, n/a) are no value, never `other`.
"""

from __future__ import annotations

GENDERS = ("female", "male", "other")

_WORDS = {
    "female": (
        "f", "female", "w", "woman", "women", "girl", "lady", "ladies", "mahila", "stree", "feminine", "fem", "she",
    ),
    "male": ("m", "male", "man", "men", "boy", "gent", "gents", "purush", "masculine", "he"),
    "other": (
        "o", "other", "others", "x", "nb", "non-binary", "nonbinary", "non binary", "genderqueer", "third gender",
        "transgender", "trans", "t",
    ),
}  # fmt: skip
_NOT_GIVEN = (
    "u", "unknown", "na", "n/a", "n.a.", "-", "--", "none", "nil", "not specified", "unspecified", "not disclosed",
    "undisclosed", "prefer not to say", "prefer not to answer", "rather not say", "not given", "not known",
)  # fmt: skip
_PUNCTUATION = str.maketrans({mark: " " for mark in "-_./,()"})


def _key(value: str) -> str:
    """What spellings of one word share: lower case, punctuation as spaces, single spaces."""
    return " ".join(value.lower().translate(_PUNCTUATION).split())


_BY_WORD = {_key(word): gender for gender, words in _WORDS.items() for word in words}
_NOT_GIVEN_KEYS = {_key(word) for word in _NOT_GIVEN}


class UnknownGender(ValueError):
    """A value that names no gender we know."""


def normalise_gender(value: str) -> str | None:
    """`F`, `Woman`, `Mahila` -> `female`; "prefer not to say" -> None; anything else raises."""
    word = _key(value)
    if word in _BY_WORD:
        return _BY_WORD[word]
    if not word or word in _NOT_GIVEN_KEYS:
        return None
    raise UnknownGender(
        f"{value.strip()[:40]!r} is not a gender we know: write female (F, woman, mahila), male (M, man, "
        "purush) or other (O, non-binary), or leave it empty"
    )

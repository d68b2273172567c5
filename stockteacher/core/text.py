"""Words out of text, the same way for search, retrieval and relevance: lower-case tokens,
English stop words dropped, Hangul runs as character bigrams (Korean has no spaces inside
compounds, so bigrams find `삼성전자` in `삼성전자의`)."""

from __future__ import annotations

import re

__all__ = ["tokenize"]

_WORD = re.compile(r"[0-9a-z]+|[\uac00-\ud7a3]+")
_STOPWORDS = frozenset(
    """a an and are as at be been but by can could did do does for from had has have how i if in into is it its
    me my of on or so than that the their them then there these they this to was we were what when where which
    who why will with would you your about tell explain mean means""".split()
)


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens; Hangul runs become character bigrams (a lone syllable stays)."""
    tokens: list[str] = []
    for word in _WORD.findall(text.lower()):
        if "\uac00" <= word[0] <= "\ud7a3":
            tokens += [word] if len(word) == 1 else [word[i : i + 2] for i in range(len(word) - 1)]
        elif word not in _STOPWORDS and (len(word) > 1 or word.isdigit()):
            tokens.append(word)
    return tokens

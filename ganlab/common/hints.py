"""The one way ganlab suggests a correction for a word it does not know: ``(did you mean 'x'?)``.

Every message that offers a correction (an unknown recipe key, section, choice, component, evaluator or evaluator
method) gets it from here, so they all read alike and all offer the same close matches.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

SUGGESTION_CUTOFF = 0.6
"""How alike a known word must be to a word already known to be wrong to be offered in its place
(difflib's own default): loose enough for a transposition (``sdw`` -> ``swd``), strict enough not to
suggest nonsense."""

TYPO_CUTOFF = 0.8
"""How alike a name that is not known to be wrong must be to a known one to be taken for a misspelling of
it: an evaluator class's own helper method is entitled to any name, so only a near miss is flagged."""


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """``" (did you mean 'a', 'b'?)"`` naming up to three of ``candidates`` closest to ``word``, or ``""``
    when none is close; meant to follow the message that says ``word`` is unknown."""
    close = difflib.get_close_matches(word, list(candidates), n=3, cutoff=SUGGESTION_CUTOFF)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


def looks_misspelt(word: str, candidates: Iterable[str], cutoff: float = TYPO_CUTOFF) -> bool:
    """Whether ``word``, a name that may be fine, is nearly one of ``candidates`` (see :data:`TYPO_CUTOFF`);
    against names known to be missing, the looser :data:`SUGGESTION_CUTOFF` is the one to pass."""
    return bool(difflib.get_close_matches(word, list(candidates), n=1, cutoff=cutoff))

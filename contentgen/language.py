"""Telling whether a draft is written in its campaign's language.

Two steps, both offline:

1. Script. Every language has the scripts it is written in (Chinese: Han; Japanese: Han
   and kana; Arabic: Arabic; English, German and French: Latin). If less than half of the
   text is in the expected scripts, the text is in another language. This is reliable on
   any length of text. Each word of an alphabetic script counts once and each Chinese,
   Japanese or Korean character counts once, so "TrailPeak 登山靴" is mostly Chinese.
2. Language identification, only where the script cannot tell (English versus German,
   both Latin): py3langid, a fork of langid.py whose model ships inside the package. It is
   unreliable on a few words, so the text must have at least ``MIN_WORDS`` words, another
   language must reach ``MIN_CONFIDENCE``, and the campaign's language must score below
   ``MAX_EXPECTED_CONFIDENCE``. On English headlines that mention product names, py3langid
   often picks Dutch or German with low confidence while still giving English 5 to 20%.
3. Chinese script, where the locale names one (zh-CN and zh-SG: Simplified; zh-TW, zh-HK
   and zh-MO: Traditional; plain zh: either). hanzidentifier, whose character lists come
   from CC-CEDICT, tells which characters exist in only one of the two. The text fails when
   it has more characters of the other script than of the expected one, so a single
   variant character does not fail a Traditional draft.

py3langid 0.4.0 is a 4.6 MB wheel that loads in about 0.8 s and classifies a headline in
about 0.1 ms (measured on 2 CPU cores). lingua-language-detector is more accurate on short
text, but its 2.1.1 wheel is 96 MB.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import hanzidentifier
import regex
from babel import Locale, UnknownLocaleError

from contentgen.i18n import N_, Message, Names

logger = logging.getLogger(__name__)

MIN_WORDS = 4
MIN_CONFIDENCE = 0.5
MAX_EXPECTED_CONFIDENCE = 0.02

# Scripts each language is written in, by ISO 639-1 code; any language not listed here
# is taken to be written in Latin.
LANGUAGE_SCRIPTS: dict[str, frozenset[str]] = {
    "zh": frozenset({"Han"}),
    "yue": frozenset({"Han"}),
    "ja": frozenset({"Han", "Hiragana", "Katakana"}),
    "ko": frozenset({"Hangul", "Han"}),
    "ar": frozenset({"Arabic"}),
    "fa": frozenset({"Arabic"}),
    "ur": frozenset({"Arabic"}),
    "he": frozenset({"Hebrew"}),
    "ru": frozenset({"Cyrillic"}),
    "uk": frozenset({"Cyrillic"}),
    "bg": frozenset({"Cyrillic"}),
    "sr": frozenset({"Cyrillic", "Latin"}),
    "el": frozenset({"Greek"}),
    "th": frozenset({"Thai"}),
    "hi": frozenset({"Devanagari"}),
    "mr": frozenset({"Devanagari"}),
    "bn": frozenset({"Bengali"}),
    "ta": frozenset({"Tamil"}),
    "ka": frozenset({"Georgian"}),
    "hy": frozenset({"Armenian"}),
}
LATIN = frozenset({"Latin"})

_SCRIPTS = (
    "Latin", "Han", "Hiragana", "Katakana", "Hangul", "Arabic", "Hebrew", "Cyrillic",
    "Greek", "Thai", "Devanagari", "Bengali", "Tamil", "Georgian", "Armenian",
)  # fmt: skip
# One unit per character in scripts without spaces, one per word elsewhere.
_CHARACTER_SCRIPTS = ("Han", "Hiragana", "Katakana", "Thai")
_UNIT = regex.compile(
    "|".join(
        [rf"\p{{{script}}}" for script in _CHARACTER_SCRIPTS]
        + [rf"\p{{{script}}}+" for script in _SCRIPTS if script not in _CHARACTER_SCRIPTS]
    )
)
_SCRIPT_PATTERNS = [(script, regex.compile(rf"\p{{{script}}}")) for script in _SCRIPTS]
# ISO 15924 codes of the scripts, by their Unicode property names above, for their names in
# the reader's language.
_SCRIPT_CODES = {
    "Latin": "Latn", "Han": "Hani", "Hiragana": "Hira", "Katakana": "Kana", "Hangul": "Hang",
    "Arabic": "Arab", "Hebrew": "Hebr", "Cyrillic": "Cyrl", "Greek": "Grek", "Thai": "Thai",
    "Devanagari": "Deva", "Bengali": "Beng", "Tamil": "Taml", "Georgian": "Geor", "Armenian": "Armn",
}  # fmt: skip
# Babel's script subtags of Chinese, as it fills them in from the territory (zh-TW: Hant).
SIMPLIFIED = N_("Simplified")
TRADITIONAL = N_("Traditional")
_CHINESE_SCRIPTS = {"Hans": SIMPLIFIED, "Hant": TRADITIONAL}
# At most this many characters of the other Chinese script are quoted in a verdict.
_QUOTED_CHARACTERS = 5
# py3langid's codes that mean the same language as a Babel code.
_ALIASES = {"nb": {"nb", "no", "nn"}, "nn": {"nb", "no", "nn"}, "no": {"nb", "no", "nn"}}


@dataclass(frozen=True)
class LanguageVerdict:
    matches: bool
    message: Message

    @property
    def detail(self) -> str:
        return str(self.message)


def language_of(locale: str) -> str:
    try:
        return Locale.parse(locale, sep="-").language
    except (UnknownLocaleError, ValueError, TypeError):
        return locale.split("-")[0].lower()


def check_language(text: str, locale: str) -> LanguageVerdict:
    """Judge whether ``text`` is in the language of ``locale``.

    Names of brands and products should be removed from ``text`` first: they are often
    in another script than the copy around them.
    """
    language = language_of(locale)
    expected = LANGUAGE_SCRIPTS.get(language, LATIN)
    scripts = _script_units(text)
    total = sum(scripts.values())
    if total == 0:
        return LanguageVerdict(True, Message(N_("no words to judge")))

    share = sum(count for script, count in scripts.items() if script in expected) / total
    if share < 0.5:
        template = N_("{share:.0%} of the text is in the script of {locale} ({scripts}); it is mostly {found}")
        fields = {
            "share": share,
            "locale": locale,
            "scripts": _script_names(sorted(expected)),
            "found": _script_names(script for script, _ in scripts.most_common(2)),
        }
        return LanguageVerdict(False, Message(template, fields))
    if expected == LATIN and total >= MIN_WORDS:
        return _identify_latin(text, language, locale)
    if language in ("zh", "yue"):
        verdict = _check_chinese_script(text, locale)
        if verdict is not None:
            return verdict
    fields = {"share": share, "scripts": _script_names(sorted(expected))}
    return LanguageVerdict(True, Message(N_("{share:.0%} in {scripts}"), fields))


def _script_names(scripts: Iterable[str]) -> Names:
    return Names("script", tuple(_SCRIPT_CODES[script] for script in scripts))


def _script_units(text: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for unit in _UNIT.findall(text):
        for script, pattern in _SCRIPT_PATTERNS:
            if pattern.match(unit):
                counts[script] += 1
                break
    return counts


def _check_chinese_script(text: str, locale: str) -> LanguageVerdict | None:
    # Returns None where the locale names no script, so either is right.
    # A script subtag written in the tag wins: Babel fills in zh-Hant-CN as Hans from CN.
    written = [part.title() for part in locale.split("-")[1:] if part.title() in _CHINESE_SCRIPTS]
    if written:
        script = written[0]
    else:
        try:
            script = Locale.parse(locale, sep="-").script
        except (UnknownLocaleError, ValueError, TypeError):
            return None
    expected = _CHINESE_SCRIPTS.get(script or "")
    if expected is None:
        return None

    only_in: dict[str, list[str]] = {SIMPLIFIED: [], TRADITIONAL: []}
    for character in text:
        kind = hanzidentifier.identify(character)
        if kind == hanzidentifier.SIMPLIFIED:
            only_in[SIMPLIFIED].append(character)
        elif kind == hanzidentifier.TRADITIONAL:
            only_in[TRADITIONAL].append(character)

    other = TRADITIONAL if expected == SIMPLIFIED else SIMPLIFIED
    found, expected_found = only_in[other], only_in[expected]
    if len(found) > len(expected_found):
        template = N_("written in {other} Chinese ({count} characters such as {quoted}), but {locale} expects {expected}")
        fields = {
            "other": Message(other),
            "count": len(found),
            "quoted": "".join(dict.fromkeys(found))[:_QUOTED_CHARACTERS],
            "locale": locale,
            "expected": Message(expected),
        }
        return LanguageVerdict(False, Message(template, fields))
    template = N_("{expected} Chinese: {count} {expected}-only characters, {other_count} {other}-only")
    fields = {
        "expected": Message(expected),
        "count": len(expected_found),
        "other": Message(other),
        "other_count": len(found),
    }
    return LanguageVerdict(True, Message(template, fields))


def _identify_latin(text: str, language: str, locale: str) -> LanguageVerdict:
    identifier = _identifier()
    if language not in identifier.labels:
        template = N_("{language} cannot be told apart from other languages in Latin script")
        return LanguageVerdict(True, Message(template, {"language": Names("language", (language,))}))
    ranking = identifier.rank(text)
    detected, confidence = ranking[0]
    accepted = _ALIASES.get(language, {language})
    expected = max(score for code, score in ranking if code in accepted)
    fields = {
        "detected": Names("language", (detected,)),
        "confidence": confidence,
        "language": Names("language", (language,)),
        "expected": expected,
    }
    if detected in accepted:
        return LanguageVerdict(True, Message(N_("reads as {detected} ({confidence:.0%})"), fields))
    if confidence < MIN_CONFIDENCE:
        template = N_("reads most like {detected} ({confidence:.0%}), with {language} at "
                      "{expected:.0%}, too unsure to flag")  # fmt: skip
        return LanguageVerdict(True, Message(template, fields))
    if expected >= MAX_EXPECTED_CONFIDENCE:
        template = N_("reads most like {detected} ({confidence:.0%}), but {language} scores "
                      "{expected:.0%}, enough to pass")  # fmt: skip
        return LanguageVerdict(True, Message(template, fields))
    template = N_("reads as {detected} ({confidence:.0%}), not {language} ({expected:.0%})")
    return LanguageVerdict(False, Message(template, fields))


def load_identifier() -> None:
    """Load py3langid's model now, so that the first Latin-script check does not wait for it."""
    _identifier()


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    logger.debug("language identifier loaded with %d languages", len(identifier.labels))
    return identifier

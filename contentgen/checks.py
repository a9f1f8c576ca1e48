"""Automated checks on every draft before a person reviews it, and the draft's quality score.

Each check returns one ``CheckResult``. A failed *blocking* check keeps the draft out of
``pending_review``: the worker regenerates it, and stores it as ``flagged`` if it still
fails. A failed *advisory* check is shown to the reviewer only. The checks, by name:

| name | blocking | fails when |
| --- | --- | --- |
| empty | yes | the output is empty or only whitespace |
| length | yes | the text is over its channel's hard limit, counted as the platform counts |
| shown_length | no | the text is longer than the part the platform shows (Meta's 125) |
| cut_off | no | the model reached max_new_tokens before it finished, where the text ends |
| banned_terms | yes | a banned term of the brand or of a rule pack appears |
| required_terms | yes | a required term of the brand is missing |
| claim_terms | no | a claim word that needs substantiation appears |
| repetition | yes | an n-gram repeats in a loop ("Unspun: Unspun: Unspun:") |
| leaked_tokens | yes | special, chat-template or template tokens, or a chat preamble |
| prompt_echo | yes | six or more words of the prompt's instructions appear |
| language | yes | the text is not in the campaign's language |
| near_duplicate | yes | the text is nearly the same as another variant of its slot |
| personal_data | yes | an e-mail address, phone number or card number appears |
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import phonenumbers
import regex
from rapidfuzz import fuzz, utils

from contentgen.channels import Measurement, measure
from contentgen.counting import LINK
from contentgen.i18n import N_, Message
from contentgen.language import check_language
from contentgen.rules import BRAND, BrandRules, TermMatch, find_terms, normalize

# The names are marked for the catalogue because the review pages show them translated.
EMPTY = N_("empty")
LENGTH = N_("length")
SHOWN_LENGTH = N_("shown_length")
CUT_OFF = N_("cut_off")
BANNED_TERMS = N_("banned_terms")
REQUIRED_TERMS = N_("required_terms")
CLAIM_TERMS = N_("claim_terms")
REPETITION = N_("repetition")
LEAKED_TOKENS = N_("leaked_tokens")
PROMPT_ECHO = N_("prompt_echo")
LANGUAGE = N_("language")
NEAR_DUPLICATE = N_("near_duplicate")
PERSONAL_DATA = N_("personal_data")
CHECK_NAMES = (
    EMPTY, LENGTH, SHOWN_LENGTH, CUT_OFF, BANNED_TERMS, REQUIRED_TERMS, CLAIM_TERMS, REPETITION,
    LEAKED_TOKENS, PROMPT_ECHO, LANGUAGE, NEAR_DUPLICATE, PERSONAL_DATA,
)  # fmt: skip

# rapidfuzz's ratio (0 to 100) at or above which two variants count as near-duplicates.
NEAR_DUPLICATE_RATIO = 90
# Words of the prompt's own instructions that must appear in a row to count as an echo.
ECHO_WORDS = 6


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    blocking: bool
    # What the check found, in English and as a message the review pages translate. The
    # message takes no part in comparing or hashing results: its fields are a dict.
    detail: str = ""
    message: Message | None = field(default=None, compare=False)

    @property
    def blocks(self) -> bool:
        """Whether this result keeps the draft out of ``pending_review``."""
        return self.blocking and not self.passed


def _result(name: str, passed: bool, blocking: bool, message: Message | None = None) -> CheckResult:
    if message is None:
        return CheckResult(name, passed, blocking)
    return CheckResult(name, passed, blocking, str(message), message)


@dataclass(frozen=True)
class Sibling:
    """Another variant of the same slot (campaign, segment, channel)."""

    variant: int
    text: str


@dataclass(frozen=True)
class CheckContext:
    """The facts about a draft, besides its text, that the checks use."""

    channel: str
    locale: str = "en-US"
    rules: BrandRules = BrandRules()
    # The brand's channel_limits: channel key to limit.
    channel_limits: Mapping[str, int] = field(default_factory=dict)
    prompt: str = ""
    # Values from the campaign file (product facts, names, terms) that the prompt contains
    # and the copy may repeat; they are not instructions.
    campaign_values: tuple[str, ...] = ()
    # Brand and product names, which may be in another script than the copy around them.
    names: tuple[str, ...] = ()
    # ISO 3166 region for reading phone numbers written without a country code.
    region: str = "US"
    # The max_new_tokens that stopped the model before it finished, when the text runs to
    # where it was stopped; None when the model ended its turn, or a person wrote the text.
    cut_at_tokens: int | None = None


def run_checks(
    text: str, context: CheckContext, siblings: Sequence[Sibling] = ()
) -> list[CheckResult]:
    """Run every check that applies to the channel, in the order of the module's table."""
    return with_near_duplicate(run_text_checks(text, context), check_near_duplicate(text, siblings))


def run_text_checks(text: str, context: CheckContext) -> list[CheckResult]:
    """Run every check except near_duplicate, in the order of the module's table.

    These results depend only on the text and its context, not on the other variants, so
    a caller may reuse them for as long as the text does not change.
    """
    measurement = measure(text, context.channel, context.channel_limits)
    results = [check_empty(text), check_length(measurement)]
    if measurement.shown is not None:
        results.append(check_shown_length(measurement))
    results += [
        check_cut_off(context.cut_at_tokens, measurement.over_limit),
        check_banned_terms(text, context.rules),
        check_required_terms(text, context.rules),
        check_claim_terms(text, context.rules),
        check_repetition(text),
        check_leaked_tokens(text),
        check_prompt_echo(text, context.prompt, context.campaign_values),
        check_language_of(text, context.locale, context.names),
        check_personal_data(text, context.region, context.campaign_values),
    ]
    return results


def with_near_duplicate(
    text_results: Sequence[CheckResult], near_duplicate: CheckResult
) -> list[CheckResult]:
    """Return ``run_text_checks`` results with ``near_duplicate`` in its place in the table."""
    *before, personal_data = text_results
    if personal_data.name != PERSONAL_DATA:
        raise ValueError(f"expected run_text_checks results ending with {PERSONAL_DATA}")
    return [*before, near_duplicate, personal_data]


def is_blocked(results: Sequence[CheckResult]) -> bool:
    return any(result.blocks for result in results)


# --- format -------------------------------------------------------------------------------


# A character that shows something: not white space, not a format character such as a
# zero-width space or joiner, and not one of the blank letters that render as nothing
# (Hangul fillers, the blank Braille pattern).
_VISIBLE = regex.compile(r"[^\s\p{Cf}\u115F\u1160\u2800\u3164\uFFA0]")


def has_visible_text(text: str) -> bool:
    """Tell whether ``text`` shows anything on screen."""
    return _VISIBLE.search(text) is not None


# Invisible characters that emoji sequences are built with, left out wherever they stand:
# the zero-width joiner (👩‍💻), the emoji variation selectors (❤️) and the tag characters
# of subdivision flags (🏴󠁧󠁢󠁳󠁣󠁴󠁿).
_EMOJI_INVISIBLE = frozenset("\u200d\ufe0e\ufe0f") | frozenset(map(chr, range(0xE0020, 0xE0080)))
_INVISIBLE = regex.compile(r"[\p{Cf}\p{Default_Ignorable_Code_Point}]")


def invisible_characters(text: str) -> dict[str, int]:
    """Count the invisible characters of ``text`` by code point ("U+200B"), such as
    zero-width spaces, leaving out those that emoji sequences use."""
    counts: dict[str, int] = {}
    for character in _INVISIBLE.findall(text):
        if character not in _EMOJI_INVISIBLE:
            code = f"U+{ord(character):04X}"
            counts[code] = counts.get(code, 0) + 1
    return counts


def check_empty(text: str) -> CheckResult:
    if has_visible_text(text):
        return CheckResult(EMPTY, True, True)
    return _result(EMPTY, False, True, Message(N_("the model returned no visible text")))


def check_length(measurement: Measurement) -> CheckResult:
    counts = {"length": measurement.length, "limit": measurement.limit}
    unit = Message(measurement.counting.unit)
    if measurement.encoding:
        template = N_("{length} of {limit} {unit} in {encoding}")
        message = Message(template, {**counts, "unit": unit, "encoding": measurement.encoding})
    else:
        message = Message(N_("{length} of {limit} {unit}"), {**counts, "unit": unit})
    return _result(LENGTH, not measurement.over_limit, True, message)


def check_shown_length(measurement: Measurement) -> CheckResult:
    shown = measurement.shown or measurement.limit
    passed = measurement.length <= shown
    template = N_("{length} characters; the platform shows {shown} before cutting")
    message = Message(template, {"length": measurement.length, "shown": shown})
    return _result(SHOWN_LENGTH, passed, False, message)


def check_cut_off(cut_at_tokens: int | None, over_limit: bool = False) -> CheckResult:
    if cut_at_tokens is None:
        return CheckResult(CUT_OFF, True, False)
    if over_limit:
        # More tokens would only make the text longer: the model did not stop at the length
        # the prompt asked for.
        template = N_("the model reached its limit of {limit} new tokens before it finished, and "
                      "the text is already over the channel's length limit")  # fmt: skip
        return _result(CUT_OFF, False, False, Message(template, {"limit": cut_at_tokens}))
    template = N_("the model reached its limit of {limit} new tokens before it finished, so the "
                  "text may stop mid-sentence; if this happens often, raise the campaign's "
                  "generation.max_new_tokens")  # fmt: skip
    return _result(CUT_OFF, False, False, Message(template, {"limit": cut_at_tokens}))


# --- brand rules --------------------------------------------------------------------------


def _describe_matches(matches: Sequence[TermMatch]) -> list[Message]:
    # "term" (source), or "term" as "what the text has" (source), once each.
    parts = {}
    for match in matches:
        source = Message(BRAND) if match.term.source == BRAND else match.term.source
        fields = {"term": match.term.text, "source": source}
        if normalize(match.term.text) != match.found:
            message = Message(N_('"{term}" as "{found}" ({source})'), {**fields, "found": match.found})
        else:
            message = Message(N_('"{term}" ({source})'), fields)
        parts.setdefault(message.to_json(), message)
    return list(parts.values())


def _terms_checked(count: int) -> Message:
    if count == 1:
        return Message(N_("1 term checked"))
    return Message(N_("{count} terms checked"), {"count": count})


def check_banned_terms(text: str, rules: BrandRules) -> CheckResult:
    matches = find_terms(text, rules.banned)
    if not matches:
        return _result(BANNED_TERMS, True, True, _terms_checked(len(rules.banned)))
    message = Message(N_("banned: {terms}"), {"terms": _describe_matches(matches)})
    return _result(BANNED_TERMS, False, True, message)


def check_required_terms(text: str, rules: BrandRules) -> CheckResult:
    # Exact spelling: a brand name written with look-alike letters is not the brand name.
    missing = [term.text for term in rules.required if not find_terms(text, [term], lookalikes=False)]
    if not missing:
        count = len(rules.required)
        if count == 1:
            return _result(REQUIRED_TERMS, True, True, Message(N_("1 term present")))
        return _result(REQUIRED_TERMS, True, True, Message(N_("{count} terms present"), {"count": count}))
    quoted = [Message(N_('"{term}"'), {"term": term}) for term in missing]
    return _result(REQUIRED_TERMS, False, True, Message(N_("missing: {terms}"), {"terms": quoted}))


def check_claim_terms(text: str, rules: BrandRules) -> CheckResult:
    matches = find_terms(text, rules.claims)
    if not matches:
        return _result(CLAIM_TERMS, True, False, _terms_checked(len(rules.claims)))
    message = Message(N_("needs substantiation: {terms}"), {"terms": _describe_matches(matches)})
    return _result(CLAIM_TERMS, False, False, message)


# --- quality ------------------------------------------------------------------------------

# One token per word in alphabetic scripts, one per character where words are not spaced.
_TOKEN = regex.compile(
    # A word starts with a letter or digit, so a lone mark such as the emoji variation
    # selector U+FE0F (in ❤️) is no word.
    r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}]|[\p{L}\p{N}][\p{L}\p{N}\p{M}]*(?:['’][\p{L}]+)*"
)
_UNSPACED = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}]")
# A phrase repeated twice in a row is degenerate once it is this many characters long.
_REPEATED_PHRASE_CHARACTERS = 20


def tokenize(text: str) -> list[str]:
    """Split text into case-folded words, and single characters of unspaced scripts."""
    return _TOKEN.findall(normalize(text))


# The same punctuation mark, symbol or emoji (a whole grapheme, skin tone included) 4 or
# more times in a row, spaces between them allowed: "！！！！", "💰💰💰💰". Words leave
# these out, so the n-gram search cannot see them.
# Stars of a rating ("★★★★★ rated"), which may repeat up to five times.
RATING_STARS = frozenset("★☆⭐🌟")
_SYMBOL_RUN = regex.compile(r"(?=[\p{P}\p{S}])(\X)(?:\s*\1){3,}")


def check_repetition(text: str) -> CheckResult:
    """Find an n-gram repeated back to back: 3 times for up to 6 tokens (4 times for a
    single Chinese or Japanese character, as in 哈哈哈), or twice for a phrase of 20 or
    more characters. A symbol or emoji repeated 4 times in a row fails too."""
    tokens = tokenize(text)
    found = _repeated_ngram(tokens)
    if found is not None:
        phrase, count = found
        return _result(REPETITION, False, True, _repeated(phrase, count))
    for run in _SYMBOL_RUN.finditer(text):
        symbol = run.group(1)
        count = len(regex.findall(regex.escape(symbol), run.group()))
        if symbol.rstrip("\ufe0f") in RATING_STARS and count <= 5:
            continue
        return _result(REPETITION, False, True, _repeated(symbol, count))
    return CheckResult(REPETITION, True, True)


def _repeated(phrase: str, count: int) -> Message:
    return Message(N_('"{phrase}" repeated {count} times in a row'), {"phrase": phrase, "count": count})


def _repeated_ngram(tokens: list[str]) -> tuple[str, int] | None:
    for size in range(1, len(tokens) // 2 + 1):
        for start in range(len(tokens) - size):
            gram = tokens[start : start + size]
            count = 1
            while tokens[start + count * size : start + (count + 1) * size] == gram:
                count += 1
            phrase = _join(gram)
            # Digit groups repeat in prices, card and phone numbers; those are checked elsewhere.
            if count >= _repeats_needed(gram, phrase) and not phrase.replace(" ", "").isdigit():
                return phrase, count
    return None


def _repeats_needed(gram: list[str], phrase: str) -> float:
    if len(phrase) >= _REPEATED_PHRASE_CHARACTERS:
        return 2
    if len(gram) > 6:
        return math.inf
    if len(gram) == 1 and _UNSPACED.fullmatch(gram[0]):
        return 4
    return 3


def _join(tokens: Sequence[str]) -> str:
    text = ""
    for token in tokens:
        if text and not (_UNSPACED.fullmatch(token) and _UNSPACED.search(text[-1])):
            text += " "
        text += token
    return text


# Words for a piece of copy ("headline", "ad", "copy") in Chinese and Japanese replies.
_CJK_COPY_WORDS = (
    "(?:标题|標題|文案|广告|廣告|描述|帖子|貼文|主题|主題|短信|簡訊|邮件|郵件|版本|选项|選項|"
    "見出し|広告文|コピー)"
)

_LEAKS = [
    (N_("special token"), regex.compile(
        r"<\|[^|<>\n]{1,40}\|>|</?s>|<(?:unk|pad|bos|eos|mask)>", regex.I
    )),
    (N_("chat turn marker"), regex.compile(r"<(?:start|end)_of_turn>|\[/?INST\]|<</?SYS>>", regex.I)),
    (N_("role label"), regex.compile(r"(?m)^\s*(?:system|user|assistant)\s*[:：]", regex.I)),
    (N_("instruction header"), regex.compile(
        r"###\s*(?:instruction|response|input|output)\b", regex.I
    )),
    (N_("template syntax"), regex.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", regex.S)),
    (N_("placeholder"), regex.compile(
        r"\[(?:your|insert|name|first name|company|link|url|date|product|brand|recipient|"
        r"phone|email|address)\b[^\]\n]{0,40}\]|\{[a-z]+(?:_[a-z]+)*\}",
        regex.I,
    )),
    # "Sure! Boots for…", "Certainly, I can…", "Of course! Here is…". Copy may itself open
    # with "Of course, your feet stay dry", so those words need a reply's next words.
    (N_("chat preamble"), regex.compile(
        r"^\s*sure\s*!|^\s*(?:sure|certainly|of course|absolutely|okay|ok)\s*[,!.]\s*"
        r"(?:here\b|i\b|i['’]|let me\b|below\b|this is\b)|"
        r"^\s*here(?:['’]s| is| are)\s+(?:a|an|the|your|one|some|two|three)\s+(?:\w+\s+){0,3}"
        r"(?:headlines?|descriptions?|subject(?: lines?)?|posts?|texts?|copy|ads?|emails?|"
        r"versions?|options?|messages?)\b|\bas an? (?:ai|chatbot|language model|assistant)\b",
        regex.I,
    )),
    # Chinese and Japanese replies open the same way: "好的，" "以下是三条标题：" "はい、".
    (N_("chat preamble"), regex.compile(
        r"^\s*(?:好的|没问题|沒問題|はい|承知しました)\s*[，,！!。.、]|"
        r"^\s*(?:当然|當然|もちろん)\s*[，,！!。.、]\s*(?:以下|下面|这是|這是|我|こちら|以下は)|"
        rf"^\s*(?:以下是|以下為|下面是|以下は)[^。\n]{{0,12}}?{_CJK_COPY_WORDS}|"
        rf"^\s*(?:这是|這是)[^。\n]{{0,12}}?{_CJK_COPY_WORDS}[^。\n]{{0,4}}?[：:\n]|"
        r"作[为為](?:一[个個名]\s*)?(?:ai|人工智能|人工智慧|语言模型|語言模型|聊天机器人|聊天機器人|助手|助理)",
        regex.I,
    )),
    # "【您的姓名】", "[插入链接]", "【链接】", and "XX" or "XXX" standing in for a name or
    # number next to Chinese or Japanese text ("满XX元减", "XXX品牌"). A bracketed heading
    # such as "【产品介绍】" or "【地址】北京…" is copy, so a bare word counts only when it
    # is a slot no copy would label that way.
    (N_("placeholder"), regex.compile(
        r"[【\[［](?:您的|你的|插入|填写|請填寫|请填写)[^】\]］\n]{1,12}[】\]］]|"
        r"[【\[［](?:姓名|名字|称呼|稱呼|收件人|链接|鏈接|連結|网址|網址|日期|产品名称|產品名稱|"
        r"品牌名称|品牌名稱|公司名称|公司名稱|お名前|会社名|リンク)[】\]］]|"
        r"(?<=[\p{Han}\p{Hiragana}\p{Katakana}])X{2,}(?![A-Za-z])|(?<![A-Za-z])X{2,}"
        r"(?=[\p{Han}\p{Hiragana}\p{Katakana}])",
    )),
]  # fmt: skip


# Bidirectional embedding, override and isolate controls: invisible, and able to make the
# copy read differently from how it is stored.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# The byte order mark, which belongs only at the start of a file, is as invisible inside copy.
_REJECTED_FORMAT_CHARACTERS = BIDI_CONTROLS | {"\ufeff"}


def control_character(text: str, allowed: str = "\n\t") -> str | None:
    """Return the first control character, bidirectional control or byte order mark of
    ``text`` that is not in ``allowed``, or None."""
    for character in text:
        if character in allowed:
            continue
        if unicodedata.category(character) == "Cc" or character in _REJECTED_FORMAT_CHARACTERS:
            return character
    return None


def check_leaked_tokens(text: str) -> CheckResult:
    found = []
    for label, pattern in _LEAKS:
        match = pattern.search(text)
        if match:
            fields = {"label": Message(label), "found": match.group().strip()}
            found.append(Message(N_('{label} "{found}"'), fields))
    control = control_character(text)
    if control is not None:
        found.append(Message(N_("control character U+{code:04X}"), {"code": ord(control)}))
    if not found:
        return CheckResult(LEAKED_TOKENS, True, True)
    return _result(LEAKED_TOKENS, False, True, _listing(found))


def _listing(items: Sequence[Message]) -> Message:
    # The template has no words to translate, so it stays out of the catalogue.
    return Message("{items}", {"items": list(items)})


def check_prompt_echo(text: str, prompt: str, campaign_values: Sequence[str] = ()) -> CheckResult:
    """Fail when the text repeats ``ECHO_WORDS`` words in a row of the prompt's own
    instructions, or, for a text of three to five words, a whole instruction line.

    The campaign's values (product facts, names, terms) are cut out of the prompt first,
    because good copy repeats them.
    """
    text_tokens = tuple(tokenize(text))
    if len(text_tokens) < 3 or not prompt:
        return CheckResult(PROMPT_ECHO, True, True)

    lines = _instruction_lines(prompt, tuple(campaign_values))
    if len(text_tokens) < ECHO_WORDS:
        if text_tokens in lines:
            return _result(PROMPT_ECHO, False, True, _echo(text_tokens))
        return CheckResult(PROMPT_ECHO, True, True)

    instructions = {
        line[start : start + ECHO_WORDS]
        for line in lines
        for start in range(len(line) - ECHO_WORDS + 1)
    }
    for start in range(len(text_tokens) - ECHO_WORDS + 1):
        gram = text_tokens[start : start + ECHO_WORDS]
        if gram in instructions:
            return _result(PROMPT_ECHO, False, True, _echo(gram))
    return CheckResult(PROMPT_ECHO, True, True)


def _echo(tokens: Sequence[str]) -> Message:
    return Message(N_('repeats the prompt: "{words}"'), {"words": _join(tokens)})


@lru_cache(maxsize=256)
def _instruction_lines(prompt: str, values: tuple[str, ...]) -> frozenset[tuple[str, ...]]:
    # Each piece of the prompt between two campaign values, as tokens. A piece's label
    # ("Rules:", "Audience:") is a separate piece, so "Write in English" is found whole.
    # Cached because a regenerated row is checked again against the same prompt.
    remainder = normalize(prompt)
    for value in _longest_first(values):
        remainder = remainder.replace(value, "\n")
    pieces = regex.split(r"\n|[:：]\s", remainder)
    lines = (tuple(tokenize(piece)) for piece in pieces)
    return frozenset(line for line in lines if line)




def _longest_first(values: Sequence[str]) -> list[str]:
    # Longer values go first, so "TrailPeak Outfitters" is cut before "TrailPeak".
    return sorted({normalize(value) for value in values if value.strip()}, key=len, reverse=True)


def check_language_of(text: str, locale: str, names: Sequence[str] = ()) -> CheckResult:
    """Check the text's language with links, brand and product names cut out of it."""
    remainder = LINK.sub(" ", normalize(text))
    for name in _longest_first(names):
        remainder = remainder.replace(name, " ")
    verdict = check_language(remainder, locale)
    return _result(LANGUAGE, verdict.matches, True, verdict.message)


def check_near_duplicate(text: str, siblings: Sequence[Sibling]) -> CheckResult:
    if not text.strip():
        return _result(NEAR_DUPLICATE, True, True, Message(N_("no text to compare")))
    best: tuple[float, int] | None = None
    processed = _comparable(text)
    for sibling in siblings:
        if not sibling.text.strip():
            continue
        ratio = fuzz.ratio(processed, _comparable(sibling.text))
        if best is None or ratio > best[0]:
            best = (ratio, sibling.variant)
    if best is None:
        return _result(NEAR_DUPLICATE, True, True, Message(N_("no other variant to compare")))
    ratio, variant = best
    message = Message(N_("{ratio:.0f}% similar to variant {variant}"), {"ratio": ratio, "variant": variant})
    return _result(NEAR_DUPLICATE, ratio < NEAR_DUPLICATE_RATIO, True, message)


@lru_cache(maxsize=4096)
def _comparable(text: str) -> str:
    # rapidfuzz's default processing (lower case, non-alphanumeric characters as spaces,
    # trimmed) runs once per text, because each variant of a slot is compared with every
    # other one in every check round.
    return utils.default_process(text)


# --- privacy ------------------------------------------------------------------------------

_EMAIL = regex.compile(r"[\p{L}\p{N}._%+-]+@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)*\.\p{L}{2,}")
# 13 to 19 digits, optionally grouped with single spaces or hyphens, as card numbers are.
_CARD = regex.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_DATE = regex.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}")
# Two years joined by a dash or a tilde, as in "2019-2022" or "2024~2025".
_YEAR_RANGE = regex.compile(r"(?:19|20)\d\d\s*[-–—~～]\s*(?:19|20)\d\d")
MIN_PHONE_DIGITS = 7


def check_personal_data(text: str, region: str = "US", campaign_values: Sequence[str] = ()) -> CheckResult:
    """Find e-mail addresses, phone numbers and card numbers.

    Phone numbers are read by Google's libphonenumber (the ``phonenumbers`` package) at its
    POSSIBLE leniency, which accepts made-up numbers such as 555-123-4567 too, with
    ``region`` for numbers without a country code. Dates and round quantities ("限量
    10000000 份") that look like numbers are skipped. A card number is 13 to 19 digits that
    pass the Luhn check, which order and reference numbers of that length usually do not.

    An e-mail address or phone number that ``campaign_values`` contain is the brand's own,
    such as a hotline in the offer, and passes.
    """
    normalized = unicodedata.normalize("NFKC", text)
    own_emails, own_phones = _contacts_in(tuple(campaign_values), region)
    found = [
        Message(N_('e-mail "{found}"'), {"found": match})
        for match in _EMAIL.findall(normalized)
        if match.casefold() not in own_emails
    ]
    cards = [match for match in _CARD.finditer(normalized) if _passes_luhn(match.group())]
    found += [Message(N_('card number "{found}"'), {"found": match.group()}) for match in cards]
    found += [
        Message(N_('phone number "{found}"'), {"found": match.raw_string})
        for match in _phone_numbers(normalized, region, cards)
        if _e164(match) not in own_phones
    ]
    if not found:
        return CheckResult(PERSONAL_DATA, True, True)
    return _result(PERSONAL_DATA, False, True, _listing(found))


@lru_cache(maxsize=64)
def _contacts_in(values: tuple[str, ...], region: str) -> tuple[frozenset[str], frozenset[str]]:
    """Return the e-mail addresses (case-folded) and phone numbers (E.164) in ``values``."""
    emails, phones = set(), set()
    for value in values:
        normalized = unicodedata.normalize("NFKC", value)
        emails.update(match.casefold() for match in _EMAIL.findall(normalized))
        phones.update(_e164(match) for match in _phone_numbers(normalized, region, ()))
    return frozenset(emails), frozenset(phones)


def _e164(match: phonenumbers.PhoneNumberMatch) -> str:
    # The same number with or without its country code, and however it is spaced.
    return phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)


def _phone_numbers(
    text: str, region: str, cards: Sequence[regex.Match[str]]
) -> list[phonenumbers.PhoneNumberMatch]:
    numbers = []
    matcher = phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.POSSIBLE)
    for match in matcher:
        if _DATE.fullmatch(match.raw_string) or _YEAR_RANGE.fullmatch(match.raw_string):
            continue
        # A shorter group is a spec or a price ("316-304" steel); the shortest local phone
        # numbers have 7 digits.
        digits = "".join(character for character in match.raw_string if character.isdigit())
        if len(digits) < MIN_PHONE_DIGITS:
            continue
        # A quantity or an amount ("10000000", "1,200,000"): no phone number has one or two
        # digits followed only by zeros.
        if len(digits.rstrip("0")) <= 2:
            continue
        if any(card.start() <= match.start and match.end <= card.end() for card in cards):
            continue
        numbers.append(match)
    return numbers


def _passes_luhn(number: str) -> bool:
    digits = [int(character) for character in number if character.isdigit()]
    total = 0
    for position, digit in enumerate(reversed(digits)):
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


# --- score --------------------------------------------------------------------------------

CHECKS_WEIGHT = 0.5
LENGTH_WEIGHT = 0.3
FLUENCY_WEIGHT = 0.2
# Copy that uses at least this share of its limit is taken to use the room well.
FULL_LENGTH_SHARE = 0.4


def score_draft(
    results: Sequence[CheckResult], measurement: Measurement, mean_logprob: float | None
) -> float:
    """Score a draft from 0 to 1 for sorting the review queue, best first.

    The score is 0.5 x checks + 0.3 x length fit + 0.2 x fluency:

    - checks: 0 when a blocking check failed, else 1 minus 0.25 per failed advisory check.
    - length fit: 0 over the hard limit, and 1 from 40% of the limit up to the limit.
      Shorter copy gets the share of 40% it reaches, so 20% of the room gives 0.5.
    - fluency: the model's geometric-mean token probability, exp(mean token log-probability),
      or 0.5 when the generator did not report log-probabilities.
    """
    if is_blocked(results):
        checks = 0.0
    else:
        advisory_failures = sum(1 for result in results if not result.passed)
        checks = max(0.0, 1.0 - 0.25 * advisory_failures)

    if measurement.over_limit or measurement.limit <= 0:
        length_fit = 0.0
    else:
        length_fit = min(1.0, measurement.length / (FULL_LENGTH_SHARE * measurement.limit))

    fluency = 0.5 if mean_logprob is None else math.exp(min(0.0, mean_logprob))
    score = CHECKS_WEIGHT * checks + LENGTH_WEIGHT * length_fit + FLUENCY_WEIGHT * fluency
    return round(score, 4)

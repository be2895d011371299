"""Split a prompt into the scene and the text lines to draw (the AnyText quote convention).

The official AnyText code (``modify_prompt`` in its demo and ModelScope wrapper) turns ``“`` and
``”`` into ``"``, takes every ``"…"`` (non-greedy, left to right, one line of the prompt at a time)
as a text line, and replaces each quoted segment by ``' * '``; the ``*`` is the placeholder whose
token embedding the text-embedding module later replaces by the line's glyph embedding. So

    a shop sign that reads "天路" and "KEDA", neon lights at night
    -> a shop sign that reads  *  and  * , neon lights at night      lines: 天路, KEDA

This module follows that rule exactly for double quotes and extends it to the other quote styles
designers type: 「…」, 『…』, ‘…’ and '…'. Single quotes only count as quotes where they cannot be
an apostrophe: an opening ``'``/``‘`` is not preceded by a Latin letter or digit and a closing
``'``/``’`` is not followed by one, so ``don't`` and ``museum's`` stay words.

Differences from the official code, on purpose:
- a prompt without quotes has no lines (the official code uses one blank line ``' '`` that draws
  nothing); engines then draw nothing or use explicit lines;
- empty quotes (``""``) are dropped from the prompt with a note instead of becoming an empty line;
- quoted text is stripped of surrounding spaces.

Explicit lines (CLI ``--text``, the studio's line inputs) take precedence over quotes. When the
prompt quotes as many texts as there are explicit lines, the placeholders stay where the quotes
were; otherwise the quoted texts are removed and one placeholder per line is appended the way the
official training captions do (``<caption>, that reads * , * .``, see ``get_caption_pos`` in the
official t3 dataset). A prompt already in placeholder form (no quotes, one lone ``*`` per explicit
line, such as a translated prompt) is kept as it is.

No torch here: the UI, the CLI and the classic engine import this cheaply.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from wenchuang.errors import RequestError

PLACEHOLDER = "*"
APPEND_PHRASE = ", that reads "  # one of the official training caption phrases

# One alternative per quote style; the group that matched holds the text. Double quotes are the
# official non-greedy rule (after “ ” are normalised to "); single quotes guard against apostrophes.
_QUOTE_RE = re.compile(
    r'"(?P<double>.*?)"'
    r"|「(?P<corner>.*?)」"
    r"|『(?P<white_corner>.*?)』"
    r"|(?<![A-Za-z0-9])‘(?P<curly_single>.*?)’(?![A-Za-z0-9])"
    r"|(?<![A-Za-z0-9])'(?P<single>.*?)'(?![A-Za-z0-9])"
)
_PLACEHOLDER_RE = re.compile(r"(?<![\w*])\*(?![\w*])")  # a lone '*', as the model prompt has them
_SPACES_RE = re.compile(r"[ \t]+")
_SPACE_BEFORE_PUNCT_RE = re.compile(r"\s+([,.;:!?，。；：！？、])")
_SPACE_BETWEEN_CJK_RE = re.compile(r"(?<=[\u3000-\u9fff\uff00-\uffef]) (?=[\u3000-\u9fff\uff00-\uffef])")


@dataclass(frozen=True)
class ParsedPrompt:
    """A prompt split for AnyText.

    scene: the prompt without the quoted texts (what a translator gets);
    lines: the texts to draw, in prompt order (or the explicit lines);
    prompt_with_placeholders: the prompt for the model, one ``*`` per line;
    notes: what was changed or ignored, for the user to see.
    """

    scene: str
    lines: list[str]
    prompt_with_placeholders: str
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Quote:
    start: int
    end: int
    text: str


def normalise_quotes(prompt: str) -> str:
    """The official first step: Chinese double quotes “ ” become straight double quotes."""
    return prompt.replace("“", '"').replace("”", '"')


def find_quotes(prompt: str) -> list[tuple[str, int, int]]:
    """The quoted segments of an (already normalised) prompt: (text, start, end), left to right."""
    found = []
    for match in _QUOTE_RE.finditer(prompt):
        text = next(g for g in match.groups() if g is not None)
        found.append((text, match.start(), match.end()))
    return found


def is_chinese(text: str) -> bool:
    """True when the text holds at least one CJK ideograph (the official ``is_chinese`` test)."""
    return any(_is_cjk(ord(ch)) for ch in text)


def _is_cjk(cp: int) -> bool:
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


def _tidy(text: str) -> str:
    """Collapse runs of spaces, drop spaces before punctuation, trim the ends."""
    lines = []
    for line in text.splitlines():
        line = _SPACES_RE.sub(" ", line)
        line = _SPACE_BEFORE_PUNCT_RE.sub(r"\1", line)
        line = _SPACE_BETWEEN_CJK_RE.sub("", line)
        lines.append(line.strip())
    return "\n".join(line for line in lines if line)


def _replace_quotes(prompt: str, quotes: Sequence[_Quote], by: Callable[[_Quote], str]) -> str:
    out, last = [], 0
    for quote in quotes:
        out.append(prompt[last : quote.start])
        out.append(by(quote))
        last = quote.end
    out.append(prompt[last:])
    return "".join(out)


def append_placeholders(prompt: str, n_lines: int) -> str:
    """``<prompt>, that reads * , * .`` — one placeholder per line, as the official captions."""
    if n_lines <= 0:
        return prompt
    base = prompt.rstrip().rstrip(",.;，。；")
    marks = (f"{PLACEHOLDER} , " * n_lines)[:-2] + "."
    return f"{base}{APPEND_PHRASE}{marks}" if base else marks


def parse_prompt(prompt: str, explicit_lines: Sequence[str] | None = None) -> ParsedPrompt:
    """Split ``prompt`` into scene, lines and the model prompt with ``*`` placeholders.

    ``explicit_lines`` (empty strings ignored) take precedence over the quoted texts.
    """
    if not isinstance(prompt, str):
        raise RequestError("prompt", f"must be text, got {type(prompt).__name__}")
    normalised = normalise_quotes(prompt)
    notes: list[str] = []
    found = [_Quote(start, end, text.strip()) for text, start, end in find_quotes(normalised)]
    quotes = [q for q in found if q.text]
    if len(quotes) < len(found):
        notes.append(f"ignored {len(found) - len(quotes)} empty quote(s)")

    def model_prompt() -> str:  # non-empty quotes -> ' * ', empty ones -> ' '
        return _replace_quotes(normalised, found, lambda q: f" {PLACEHOLDER} " if q.text else " ")

    scene = _tidy(_replace_quotes(normalised, found, lambda q: " "))
    explicit = [str(line) for line in (explicit_lines or []) if str(line).strip()]
    if not explicit:
        return ParsedPrompt(scene, [q.text for q in quotes], model_prompt(), notes)

    if len(quotes) == len(explicit):
        if [q.text for q in quotes] != explicit:
            notes.append("the explicit lines replace the prompt's quoted texts")
        return ParsedPrompt(scene, explicit, model_prompt(), notes)

    existing = _PLACEHOLDER_RE.findall(normalised)
    if not quotes and len(existing) == len(explicit):  # already in placeholder form (e.g. translated)
        return ParsedPrompt(_tidy(_PLACEHOLDER_RE.sub(" ", scene)), explicit, normalised, notes)

    if quotes:
        notes.append(
            f"the prompt quotes {len(quotes)} text(s) but {len(explicit)} explicit line(s) were given: "
            "the explicit lines are used and the quoted texts removed"
        )
    if existing:
        notes.append(f"removed {len(existing)} placeholder(s) that did not match the {len(explicit)} line(s)")
        scene = _tidy(_PLACEHOLDER_RE.sub(" ", scene))
    return ParsedPrompt(scene, explicit, append_placeholders(scene, len(explicit)), notes)


def quoted_texts(prompt: str) -> list[str]:
    """The text lines a prompt quotes, in prompt order (`parse_prompt(prompt).lines`): the one way every
    entry point (CLI, studio, pipeline) finds them."""
    return list(parse_prompt(prompt).lines)


def check_line_count(n_lines: int, n_positions: int, lines: Sequence[str] | None = None) -> None:
    """Raise one clear `RequestError` when the text lines and the drawn positions disagree.

    No drawn positions (0) is fine: the layout places the lines itself.
    """
    if n_positions == 0 or n_lines == n_positions:
        return
    shown = ""
    if lines:
        shown = " (" + ", ".join(f'"{line}"' for line in lines) + ")"
    raise RequestError(
        "lines",
        f"the prompt gives {n_lines} text line(s){shown} but {n_positions} position(s) were drawn: "
        'quote one text per drawn position ("…", “…”, 「…」), draw one position per line, '
        "or give the lines explicitly",
    )

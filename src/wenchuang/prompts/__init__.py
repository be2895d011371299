"""Chinese prompts: quoted-text extraction, zh→en translation of the scene, cultural-heritage glossary.

No torch at import time: translation loads transformers only when a model is used.
"""

from wenchuang.prompts.parsing import (
    PLACEHOLDER,
    ParsedPrompt,
    append_placeholders,
    check_line_count,
    find_quotes,
    is_chinese,
    normalise_quotes,
    parse_prompt,
)

__all__ = [
    "PLACEHOLDER",
    "ParsedPrompt",
    "append_placeholders",
    "check_line_count",
    "find_quotes",
    "is_chinese",
    "normalise_quotes",
    "parse_prompt",
]

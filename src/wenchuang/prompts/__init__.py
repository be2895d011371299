"""Chinese prompts: quoted-text extraction, zh→en translation of the scene, cultural-heritage glossary.

No torch at import time: translation loads transformers only when a model is used.
"""

from wenchuang.prompts.glossary import Entry, Glossary, GlossaryError, load_glossary, user_glossary_path
from wenchuang.prompts.parsing import (
    PLACEHOLDER,
    ParsedPrompt,
    append_placeholders,
    check_line_count,
    find_quotes,
    is_chinese,
    normalise_quotes,
    parse_prompt,
    quoted_texts,
)
from wenchuang.prompts.translate import (
    DEFAULT_TRANSLATOR,
    MarianTranslator,
    Translation,
    Translator,
    clear_translator_cache,
    get_translator,
    prompt_for_model,
    translate_prompt,
    translator_status,
)

__all__ = [
    "DEFAULT_TRANSLATOR",
    "PLACEHOLDER",
    "Entry",
    "Glossary",
    "GlossaryError",
    "MarianTranslator",
    "ParsedPrompt",
    "Translation",
    "Translator",
    "append_placeholders",
    "check_line_count",
    "clear_translator_cache",
    "find_quotes",
    "get_translator",
    "is_chinese",
    "load_glossary",
    "normalise_quotes",
    "parse_prompt",
    "prompt_for_model",
    "quoted_texts",
    "translate_prompt",
    "translator_status",
    "user_glossary_path",
]

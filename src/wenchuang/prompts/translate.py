"""Chinese -> English translation of the scene prompt, with the glossary applied around it.

AnyText's CLIP text encoder reads English only. The prompt the model gets is the one with ``*``
placeholders (see `parse_prompt`): the quoted lines never reach the translator, so the text drawn
in the image stays exactly what the user typed.

How a prompt is translated (`translate_prompt`):

1. Protect: every glossary term (longest match first) and every ``*`` placeholder is replaced by a
   token the translation model copies through (``ZZ0``, ``ZZ1`` ...).
2. Translate the protected text with a MarianMT model (default ``Helsinki-NLP/opus-mt-zh-en``,
   about 300 MB) on the CPU, sentence by sentence. The model comes from a local folder or the
   Hugging Face cache; nothing is downloaded implicitly (``wenchuang prompt download`` does that).
   A loaded model is kept for the life of the process.
3. Restore: each token becomes the glossary's English (or ``*`` again). A token the model dropped is
   appended at the end, so every glossary term and every placeholder is in the result; the notes
   say so.

Without a model (offline, not downloaded, ``WENCHUANG_TRANSLATOR=none``) the glossary alone
translates: terms and everyday words (the ``words`` table) are replaced, anything left in Chinese is
listed in the notes. The result always records the source, the text, the model (``None`` for the
glossary-only path) and the notes, for the studio to show, let the user edit, and save.

transformers and torch are imported only when a model is loaded.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from wenchuang.errors import ModelError
from wenchuang.prompts.glossary import Glossary, load_glossary
from wenchuang.prompts.parsing import PLACEHOLDER, ParsedPrompt, is_chinese, parse_prompt

DEFAULT_TRANSLATOR = "Helsinki-NLP/opus-mt-zh-en"
TRANSLATOR_ENV = "WENCHUANG_TRANSLATOR"  # a hub id, a local folder, or "none"
DISABLED_NAMES = {"", "none", "off", "glossary"}
TOKEN_PREFIX = "ZZ"
_TOKEN_RE = re.compile(r"z\s*z\s*(\d+)", re.IGNORECASE)
_SENTENCE_END_RE = re.compile(r"(?<=[。！？；!?;\n])")
_SPACES_RE = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT_RE = re.compile(r"\s+([,.;:!?])")
_REPEATED_COMMA_RE = re.compile(r",(\s*,)+")
_CJK_RUN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_ZH_PUNCT = str.maketrans({"，": ",", "。": ".", "、": ",", "；": ";", "：": ":", "！": "!", "？": "?"})


class Translator(Protocol):
    """Anything that turns a batch of Chinese texts into English; ``name`` is recorded."""

    name: str

    def translate(self, texts: Sequence[str]) -> list[str]: ...


@dataclass
class Translation:
    """The result of translating one prompt.

    text: the English prompt (editable by the user); source: what was given; model: the model's
    name, or None where the glossary alone translated; notes: what the user should know;
    terms: the glossary terms used, as (中文, English).
    """

    text: str
    source: str
    model: str | None
    notes: list[str] = field(default_factory=list)
    terms: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["terms"] = [list(t) for t in self.terms]
        return data


@dataclass(frozen=True)
class _Slot:
    token: str
    zh: str
    en: str


# --- the model -----------------------------------------------------------------------------------


class MarianTranslator:
    """A MarianMT model (transformers) from a local folder or the Hugging Face cache, on the CPU."""

    def __init__(
        self,
        model: str | Path = DEFAULT_TRANSLATOR,
        *,
        local_files_only: bool = True,
        max_new_tokens: int = 256,
        num_beams: int | None = None,
    ):
        try:
            import torch
            from transformers import MarianMTModel, MarianTokenizer
        except ImportError as exc:  # pragma: no cover - transformers is a dependency
            raise ModelError(f"translation needs transformers and torch: {exc}") from exc
        self.name = str(model)
        self._torch = torch
        self.max_new_tokens = max_new_tokens
        self.num_beams = num_beams
        folder = resolve_model_folder(model, local_files_only=local_files_only)
        try:
            self.tokenizer = MarianTokenizer.from_pretrained(folder)
            self.model = MarianMTModel.from_pretrained(folder)
        except (OSError, ValueError, TypeError, AssertionError) as exc:  # incomplete or not a MarianMT
            raise ModelError(f"{self.name!r} is not a usable MarianMT model: {exc}") from exc
        self.model.eval()
        self._lock = threading.Lock()  # one generation at a time per loaded model

    def translate(self, texts: Sequence[str]) -> list[str]:
        texts = list(texts)
        if not texts:
            return []
        batch = self.tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=512)
        # never past the decoder's learned positions (512 for opus-mt)
        longest = int(getattr(self.model.config, "max_position_embeddings", 512)) - 1
        options = {"max_new_tokens": min(self.max_new_tokens, longest)}
        if self.num_beams is not None:
            options["num_beams"] = self.num_beams
        with self._lock, self._torch.inference_mode():
            output = self.model.generate(**batch, **options)
        return self.tokenizer.batch_decode(output, skip_special_tokens=True)


MODEL_FILES = ("config.json", "source.spm", "target.spm", "vocab.json")


def resolve_model_folder(model: str | Path, *, local_files_only: bool = True) -> Path:
    """A local folder holding the MarianMT files: the path itself, or the hub id's cached snapshot."""
    path = Path(str(model)).expanduser()
    if not path.is_dir():
        try:
            from huggingface_hub import snapshot_download

            path = Path(snapshot_download(str(model), local_files_only=local_files_only))
        except Exception as exc:  # not cached, offline, unknown id: say it in one line
            raise ModelError(_missing_model_message(str(model), "not in the Hugging Face cache")) from exc
    missing = [name for name in MODEL_FILES if not (path / name).is_file()]
    if missing:
        raise ModelError(_missing_model_message(str(model), f"{path} lacks {', '.join(missing)}"))
    return path


def _missing_model_message(name: str, reason: str) -> str:
    return (
        f"translation model {name!r} is not available here ({reason}); "
        f"download it with `wenchuang prompt download`, or set {TRANSLATOR_ENV} to a local folder"
    )


_TRANSLATORS: dict[str, tuple[Translator | None, str]] = {}
_LOCK = threading.Lock()


def translator_name(model: str | Path | None = None) -> str:
    """The model to use: the argument, else ``$WENCHUANG_TRANSLATOR``, else the default."""
    if model is not None:
        return str(model)
    return os.environ.get(TRANSLATOR_ENV, DEFAULT_TRANSLATOR).strip()


def get_translator(model: str | Path | None = None) -> tuple[Translator | None, str]:
    """The (cached) translator for ``model``, or None and the reason it cannot be used."""
    name = translator_name(model)
    if name.lower() in DISABLED_NAMES:
        return None, f"translation is switched off ({TRANSLATOR_ENV}={name!r})"
    with _LOCK:
        if name not in _TRANSLATORS:
            try:
                _TRANSLATORS[name] = (MarianTranslator(name), "")
            except ModelError as exc:
                _TRANSLATORS[name] = (None, str(exc))
        return _TRANSLATORS[name]


def clear_translator_cache() -> None:
    with _LOCK:
        _TRANSLATORS.clear()


def translator_status(model: str | Path | None = None) -> tuple[bool, str]:
    """(ready, detail) for the CLI and the studio, loading the model if it is there."""
    translator, reason = get_translator(model)
    if translator is None:
        return False, f"{reason}; prompts are translated with the glossary only"
    return True, f"translation model {translator.name} loaded (CPU)"


# --- protection and restoration ------------------------------------------------------------------


def protect(text: str, glossary: Glossary, *, include_words: bool = False) -> tuple[str, list[_Slot]]:
    """Replace glossary terms and ``*`` placeholders by numbered tokens the model passes through."""
    spans = [
        (m.start, m.end, m.entry.zh, m.entry.en) for m in glossary.find(text, include_words=include_words)
    ]
    covered = {i for start, end, _, _ in spans for i in range(start, end)}
    spans += [(i, i + 1, PLACEHOLDER, PLACEHOLDER) for i, ch in enumerate(text) if ch == PLACEHOLDER]
    spans = [s for s in spans if not (s[2] == PLACEHOLDER and s[0] in covered)]
    spans.sort()
    out, slots, last = [], [], 0
    for start, end, zh, en in spans:
        token = f"{TOKEN_PREFIX}{len(slots)}"
        slots.append(_Slot(token, zh, en))
        out.append(text[last:start])
        out.append(f" {token} ")
        last = end
    out.append(text[last:])
    return "".join(out), slots


def restore(translated: str, slots: Sequence[_Slot]) -> tuple[str, list[_Slot]]:
    """Put the English back for each token; returns the text and the slots the model dropped."""
    seen: set[int] = set()

    def put_back(match: re.Match) -> str:
        index = int(match.group(1))
        if index >= len(slots) or index in seen:  # an invented or repeated token
            return " "
        seen.add(index)
        return f" {slots[index].en} "

    text = _TOKEN_RE.sub(put_back, translated)
    return text, [slot for i, slot in enumerate(slots) if i not in seen]


def tidy_english(text: str) -> str:
    text = text.translate(_ZH_PUNCT)
    text = _SPACES_RE.sub(" ", text)
    text = _SPACE_BEFORE_PUNCT_RE.sub(r"\1", text)
    text = _REPEATED_COMMA_RE.sub(",", text)
    return text.strip(" ,")


def _split_sentences(text: str) -> list[str]:
    return [part for part in _SENTENCE_END_RE.split(text) if part.strip()]


# --- the entry points ----------------------------------------------------------------------------


def translate_prompt(
    text: str,
    *,
    model: str | Path | None = None,
    translator: Translator | None = None,
    glossary: Glossary | None = None,
    use_model: bool = True,
) -> Translation:
    """Translate a (scene) prompt zh -> en; English prompts come back unchanged.

    ``translator`` overrides the model lookup (any object with ``name`` and ``translate``);
    ``use_model=False`` forces the glossary-only path.
    """
    source = text
    if not is_chinese(text):
        return Translation(text=text, source=source, model=None, notes=[])
    glossary = glossary if glossary is not None else load_glossary()
    notes: list[str] = []
    if translator is None and use_model:
        translator, reason = get_translator(model)
        if translator is None:
            notes.append(f"{reason}. Translated with the glossary only: check the English prompt.")
    elif not use_model:
        translator = None
        notes.append("translation model not used: translated with the glossary only")

    if translator is None:
        return _glossary_only(text, glossary, notes)

    protected, slots = protect(text, glossary, include_words=False)
    parts = _split_sentences(protected)
    translated = " ".join(translator.translate(parts))
    english, missing = restore(translated, slots)
    english = tidy_english(english)
    dropped_terms = [slot for slot in missing if slot.zh != PLACEHOLDER]
    dropped_stars = len(missing) - len(dropped_terms)
    if dropped_terms:
        english = (
            ", ".join([english, *(slot.en for slot in dropped_terms)])
            if english
            else ", ".join(slot.en for slot in dropped_terms)
        )
        notes.append(
            "the translator lost some glossary terms; appended: " + ", ".join(s.en for s in dropped_terms)
        )
    if dropped_stars:
        english = (english + f" {PLACEHOLDER}" * dropped_stars).strip()
        notes.append(f"the translator lost {dropped_stars} text placeholder(s); appended at the end")
    terms = [(slot.zh, slot.en) for slot in slots if slot.zh != PLACEHOLDER]
    return Translation(text=english, source=source, model=translator.name, notes=notes, terms=terms)


def _glossary_only(text: str, glossary: Glossary, notes: list[str]) -> Translation:
    terms = [(m.entry.zh, m.entry.en) for m in glossary.find(text, include_words=False)]
    english = tidy_english(glossary.apply(text, include_words=True))
    left = _CJK_RUN_RE.findall(english)
    if left:
        notes.append("left in Chinese (add them to glossary.toml): " + ", ".join(dict.fromkeys(left)))
    return Translation(text=english, source=text, model=None, notes=notes, terms=terms)


def prompt_for_model(
    prompt: str,
    explicit_lines: Sequence[str] | None = None,
    **options,
) -> tuple[ParsedPrompt, Translation]:
    """Parse a prompt and translate its placeholder form; the quoted lines stay untouched.

    ``options`` go to `translate_prompt`. The translation keeps one ``*`` per line.
    """
    parsed = parse_prompt(prompt, explicit_lines)
    translation = translate_prompt(parsed.prompt_with_placeholders, **options)
    return parsed, translation


def download_translator(model: str | None = None) -> Path:
    """Download a translation model into the Hugging Face cache (needs the network)."""
    name = translator_name(model)
    if name.lower() in DISABLED_NAMES or Path(name).expanduser().exists():
        raise ModelError(f"{name!r} is not a Hugging Face model id to download")
    try:
        from huggingface_hub import snapshot_download

        path = snapshot_download(
            name, allow_patterns=["*.json", "*.spm", "*.txt", "*.safetensors", "*.model", "*.bin"]
        )
    except Exception as exc:  # network, auth, unknown id: one line for the user
        raise ModelError(f"cannot download {name!r}: {type(exc).__name__}: {str(exc)[:200]}") from exc
    clear_translator_cache()
    return Path(path)

"""A glossary of cultural-heritage and craft terms, applied around translation.

General translators get exactly the words that matter in a museum shop wrong (三星堆青铜纵目面具,
太阳神鸟, 回纹, 祥云 ...). The glossary maps such terms to the English a designer expects. It ships
with the package (``data/glossary.toml``) and is extended or overridden by ``glossary.toml`` in the
data folder (``$WENCHUANG_HOME``, default ``~/.wenchuang``); the user's entries win.

Matching is greedy longest-first, left to right, without overlaps, so ``三星堆青铜纵目面具`` is one
term and not ``三星堆`` + ``青铜`` + ...

The ``words`` category holds everyday prompt words (colours, 写着, 背景, particles). A translation
model translates those better than a dictionary, so they are used only on the glossary-only path.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from wenchuang.errors import WenchuangError
from wenchuang.paths import data_home

BUILTIN_PATH = Path(__file__).resolve().parent / "data" / "glossary.toml"
USER_FILE_NAME = "glossary.toml"
FALLBACK_CATEGORY = "words"  # used only without a translation model


class GlossaryError(WenchuangError):
    """A glossary file cannot be read or has the wrong shape."""


@dataclass(frozen=True)
class Entry:
    zh: str
    en: str
    category: str
    source: str  # "builtin" or the user file's path


@dataclass(frozen=True)
class Match:
    start: int
    end: int
    entry: Entry


def user_glossary_path() -> Path:
    return data_home() / USER_FILE_NAME


class Glossary:
    """Chinese term -> `Entry`; ``find`` gives non-overlapping longest matches in a text."""

    def __init__(self, entries: dict[str, Entry] | None = None):
        self.entries: dict[str, Entry] = dict(entries or {})
        self._max_len = max((len(zh) for zh in self.entries), default=0)

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, zh: str) -> bool:
        return zh in self.entries

    def get(self, zh: str) -> Entry | None:
        return self.entries.get(zh)

    def categories(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for entry in self.entries.values():
            counts[entry.category] = counts.get(entry.category, 0) + 1
        return counts

    def merged(self, other: Glossary) -> Glossary:
        """A new glossary: these entries, overridden and extended by ``other``'s."""
        return Glossary({**self.entries, **other.entries})

    def find(self, text: str, *, include_words: bool = True) -> list[Match]:
        """Longest matches, left to right, never overlapping."""
        matches: list[Match] = []
        i, n = 0, len(text)
        while i < n:
            found = None
            for length in range(min(self._max_len, n - i), 0, -1):
                entry = self.entries.get(text[i : i + length])
                if entry is not None and (include_words or entry.category != FALLBACK_CATEGORY):
                    found = Match(i, i + length, entry)
                    break
            if found is None:
                i += 1
            else:
                matches.append(found)
                i = found.end
        return matches

    def apply(self, text: str, *, include_words: bool = True) -> str:
        """Replace every matched term by its English, spaced from its neighbours."""
        out, last = [], 0
        for match in self.find(text, include_words=include_words):
            out.append(text[last : match.start])
            out.append(f" {match.entry.en} " if match.entry.en else " ")
            last = match.end
        out.append(text[last:])
        return "".join(out)


def parse_glossary(data: dict, source: str) -> Glossary:
    """Entries from a parsed TOML document: ``[category]`` tables of ``"中文" = "English"``."""
    if not isinstance(data, dict):
        raise GlossaryError(f'{source}: expected tables of "中文" = "English" entries')
    entries: dict[str, Entry] = {}
    for category, table in data.items():
        if not isinstance(table, dict):
            raise GlossaryError(
                f'{source}: {category!r} must be a table ([{category}]) of "中文" = "English" entries'
            )
        for zh, en in table.items():
            if not isinstance(en, str):
                raise GlossaryError(f"{source}: [{category}] {zh!r} must map to a text, got {en!r}")
            zh = zh.strip()
            if not zh:
                raise GlossaryError(f"{source}: [{category}] has an empty term")
            if not en.strip() and category != FALLBACK_CATEGORY:
                raise GlossaryError(f"{source}: [{category}] {zh!r} has no English")
            entries[zh] = Entry(zh, en.strip(), str(category), source)
    return Glossary(entries)


def read_glossary_file(path: str | Path, source: str | None = None) -> Glossary:
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise GlossaryError(f"cannot read glossary {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise GlossaryError(f"glossary {path} is not valid TOML: {exc}") from exc
    return parse_glossary(data, source or str(path))


_CACHE: dict[tuple, Glossary] = {}


def _stamp(path: Path) -> tuple[str, float, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (str(path), stat.st_mtime, stat.st_size)


def load_glossary(user_path: str | Path | None = None, *, include_user: bool = True) -> Glossary:
    """The built-in glossary, extended and overridden by the user's file where it exists.

    Cached in-process; a changed user file (time or size) is read again.
    """
    path = Path(user_path) if user_path is not None else user_glossary_path()
    stamp = _stamp(path) if include_user else None
    key = (stamp,)
    if key not in _CACHE:
        glossary = read_glossary_file(BUILTIN_PATH, "builtin")
        if stamp is not None:
            glossary = glossary.merged(read_glossary_file(path))
        _CACHE.clear()
        _CACHE[key] = glossary
    return _CACHE[key]

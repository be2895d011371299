"""Streaming reader, filter and writer for AnyWord-3M annotation files.

An AnyWord-3M file is one JSON object: ``{"data_root": ..., "data_list": [entry, ...]}`` where each
entry is ``{"img_name", "caption"?, "wm_score"?, "annotations": [{"polygon", "text", "language",
"valid"?, "rec_score"?}, ...]}``. The files are large (hundreds of MB), so nothing here loads a whole
file: `iter_anyword` decodes the ``data_list`` array one entry at a time from a bounded buffer with
the standard library's ``JSONDecoder.raw_decode``, and `filter_anyword` writes its output entry by
entry. Memory stays bounded by the largest single entry, whatever the file size.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from wenchuang.errors import RequestError, WenchuangError

CHUNK_CHARS = 1 << 20  # characters read per refill

# Words and patterns that mark watermarks, stock-photo stamps and social-media handles.
WATERMARK_WORDS = (
    "shutterstock", "alamy", "getty", "gettyimages", "istock", "dreamstime", "depositphotos", "123rf",
    "adobe stock", "vcg", "watermark", "copyright", "all rights reserved", "图虫", "视觉中国", "千图网",
    "摄图网", "昵图网", "包图网", "汇图网", "全景网", "水印", "版权", "微博", "抖音", "小红书", "快手",
    "淘宝", "天猫", "京东", "公众号", "微信号", "头条", "百度",
)  # fmt: skip
_WATERMARK_RE = re.compile(
    r"(https?://|www\.|\.com\b|\.cn\b|\.net\b|@\w|©|®|™|"
    + "|".join(re.escape(w) for w in WATERMARK_WORDS)
    + ")",
    re.IGNORECASE,
)


def is_watermark_text(text: str) -> bool:
    """True when a text line looks like a watermark, stock-photo stamp, URL or social-media handle."""
    return bool(_WATERMARK_RE.search(text))


def count_scripts(text: str) -> tuple[int, int]:
    """(Chinese characters, Latin letters) in `text`."""
    han = latin = 0
    for ch in text:
        code = ord(ch)
        if (
            0x4E00 <= code <= 0x9FFF
            or 0x3400 <= code <= 0x4DBF
            or 0xF900 <= code <= 0xFAFF
            or 0x20000 <= code
        ):
            han += 1
        elif ("a" <= ch <= "z") or ("A" <= ch <= "Z"):
            latin += 1
    return han, latin


class _Reader:
    """A growing window over a text file: `buf[pos:]` is unread; `fill()` appends the next chunk."""

    def __init__(self, handle: TextIO, chunk: int):
        self.handle = handle
        self.chunk = chunk
        self.buf = ""
        self.pos = 0
        self.eof = False

    def fill(self) -> bool:
        if self.eof:
            return False
        data = self.handle.read(self.chunk)
        if not data:
            self.eof = True
            return False
        self.buf = self.buf[self.pos :] + data
        self.pos = 0
        return True

    def skip_space(self) -> str:
        """Skip whitespace; return the next character without consuming it ('' at end of file)."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.fill():
                return ""

    def expect(self, chars: str, where: str) -> str:
        ch = self.skip_space()
        if not ch or ch not in chars:
            found = repr(ch) if ch else "end of file"
            raise WenchuangError(f"not an AnyWord JSON file: expected {chars!r} {where}, found {found}")
        self.pos += 1
        return ch

    def value(self, decoder: json.JSONDecoder) -> Any:
        """Decode one JSON value at the cursor, reading more of the file until it is complete."""
        self.skip_space()
        while True:
            try:
                value, end = decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if self.fill():
                    continue
                raise WenchuangError(
                    f"not an AnyWord JSON file: {exc.msg} near character {exc.pos}"
                ) from None
            # a number at the very end of the window might continue in the next chunk
            if end >= len(self.buf) and not self.eof and self.fill():
                continue
            self.pos = end
            return value


@dataclass
class AnyWordHeader:
    """Top-level keys of an AnyWord file other than ``data_list``, split by where they appear."""

    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)

    @property
    def data_root(self) -> str:
        return str(self.before.get("data_root", self.after.get("data_root", "")))


def iter_anyword(
    path: str | Path, header: AnyWordHeader | None = None, chunk: int = CHUNK_CHARS
) -> Iterator[dict]:
    """Yield the entries of an AnyWord file's ``data_list`` one at a time, in bounded memory.

    Other top-level keys are stored in `header` (``before`` or ``after`` the list) when one is given.
    """
    header = header if header is not None else AnyWordHeader()
    decoder = json.JSONDecoder()
    seen_list = False
    with open(path, encoding="utf-8") as handle:
        reader = _Reader(handle, chunk)
        reader.expect("{", "at the start")
        if reader.skip_space() == "}":
            reader.pos += 1
            raise WenchuangError(f"{path}: no data_list in this AnyWord JSON file")
        while True:
            key = reader.value(decoder)
            if not isinstance(key, str):
                raise WenchuangError(f"not an AnyWord JSON file: object key {key!r} is not a string")
            reader.expect(":", f"after key {key!r}")
            if key == "data_list":
                seen_list = True
                reader.expect("[", "to open data_list")
                if reader.skip_space() == "]":
                    reader.pos += 1
                else:
                    while True:
                        entry = reader.value(decoder)
                        if not isinstance(entry, dict):
                            raise WenchuangError(
                                f"not an AnyWord JSON file: a data_list item is {type(entry).__name__}"
                            )
                        yield entry
                        if reader.expect(",]", "between data_list entries") == "]":
                            break
            else:
                (header.after if seen_list else header.before)[key] = reader.value(decoder)
            if reader.expect(",}", "between top-level keys") == "}":
                break
    if not seen_list:
        raise WenchuangError(f"{path}: no data_list in this AnyWord JSON file")


class AnyWordWriter:
    """Write an AnyWord file entry by entry (to a temporary name, renamed into place on close)."""

    def __init__(self, path: str | Path, header: dict[str, Any]):
        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".part")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.tmp, "w", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self.count = 0
        self.handle.write("{")
        for key, value in header.items():
            self.handle.write(f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}, ")
        self.handle.write('"data_list": [')

    def write(self, entry: dict) -> None:
        self.handle.write(("," if self.count else "") + "\n" + json.dumps(entry, ensure_ascii=False))
        self.count += 1

    def close(self, trailer: dict[str, Any] | None = None) -> None:
        self.handle.write("\n]")
        for key, value in (trailer or {}).items():
            self.handle.write(f", {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}")
        self.handle.write("}\n")
        self.handle.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self.handle.close()
        self.tmp.unlink(missing_ok=True)


LANGUAGES = ("chinese", "latin", "other")


def entry_language(texts: list[str]) -> str:
    """'chinese' when the lines hold at least as many Han characters as Latin letters (and some),
    'latin' when Latin letters outnumber them, 'other' when they hold neither (digits, symbols)."""
    han = latin = 0
    for text in texts:
        h, lat = count_scripts(text)
        han, latin = han + h, latin + lat
    if latin > han:
        return "latin"
    return "chinese" if han else "other"


@dataclass
class FilterConfig:
    """What `filter_anyword` keeps. Thresholds set to None switch that test off.

    Language: by default the data set is *balanced* (``language=None, balance=True``): every
    mainly-Chinese entry that passes the other tests is kept, and mainly-Latin ones up to
    1/`language_ratio` of that number (all of them with ratio 0), chosen at random with `seed`;
    `target_size` caps the total at the same ratio. ``language="chinese"|"latin"`` applies the old
    per-entry rule instead (target-script characters ≥ `language_ratio` × the other script's);
    ``language=None, balance=False`` keeps every language as it comes.
    """

    min_rec_score: float | None = None  # valid lines scoring below become invalid (masked out in training)
    max_wm_score: float | None = 0.5  # entries whose wm_score exceeds this are dropped
    drop_watermark_text: bool = True  # entries with a watermark-like line are dropped
    min_lines: int = 1  # valid lines an entry needs
    max_lines: int | None = 5  # valid lines an entry may have
    max_chars: int | None = 20  # characters a valid line may have
    font: str | None = None  # drop entries whose valid lines use characters this font lacks ("" = skip)
    check_font: bool = True
    min_size: int | None = 256  # shorter image side (from entry width/height, or the image header)
    check_images: bool = False  # read each image's header under data_root for its size
    language: str | None = None  # per-entry rule: "chinese", "latin" or None (balance the data set)
    language_ratio: float = 3.0  # Chinese : Latin entries (balanced) or target : other script (per entry)
    balance: bool = True  # with language None: balance Chinese and Latin entries (False: keep all)
    target_size: int | None = None  # balanced: at most this many entries in all, at the same ratio
    seed: int = 0  # balanced: which Latin (and, with target_size, Chinese) entries are kept

    def __post_init__(self) -> None:
        if self.min_lines < 0:
            raise RequestError("min_lines", f"must be at least 0, got {self.min_lines}")
        if self.max_lines is not None and self.max_lines < max(self.min_lines, 1):
            raise RequestError("max_lines", f"must be at least 1 and min_lines ({self.min_lines}), got {self.max_lines}")
        if self.max_chars is not None and self.max_chars < 1:
            raise RequestError("max_chars", f"must be at least 1, got {self.max_chars}")
        if self.min_size is not None and self.min_size < 0:
            raise RequestError("min_size", f"must be at least 0, got {self.min_size}")
        if not self.language_ratio >= 0 or math.isinf(self.language_ratio):  # also refuses NaN
            raise RequestError("language_ratio", f"must be at least 0, got {self.language_ratio}")
        if self.language not in (None, "chinese", "latin"):
            raise RequestError("language", f"must be 'chinese', 'latin' or None, got {self.language!r}")
        if self.target_size is not None and self.target_size < 1:
            raise RequestError("target_size", f"must be at least 1, got {self.target_size}")
        if self.target_size is not None and not self.balanced:
            raise RequestError("target_size", "needs the balanced mode (no per-entry language rule)")

    @property
    def balanced(self) -> bool:
        return self.language is None and self.balance


def balance_counts(chinese: int, latin: int, ratio: float, target: int | None) -> tuple[int, int]:
    """(Chinese, Latin) entries to keep of the `chinese` and `latin` available.

    Every Chinese entry (up to the target's share, ``target - target // (ratio + 1)``) and Latin ones
    up to ``floor(chinese kept / ratio)`` (no limit with ratio 0), the total never above `target`."""
    if target is None:
        keep_c = chinese
        cap_l = latin if ratio == 0 else math.floor(keep_c / ratio)
        return keep_c, min(latin, cap_l)
    keep_c = min(chinese, target if ratio == 0 else target - math.floor(target / (ratio + 1)))
    cap_l = latin if ratio == 0 else math.floor(keep_c / ratio)
    return keep_c, max(0, min(latin, cap_l, target - keep_c))


# order of the checks = the reason counted for a dropped entry
DROP_REASONS = (
    "no_annotations", "watermark_score", "watermark_text", "too_few_lines", "too_many_lines",
    "line_too_long", "missing_glyphs", "image_missing", "image_too_small", "language_ratio", "no_script",
    "language_balance",
)  # fmt: skip


@dataclass
class FilterStats:
    entries: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    lines_in: int = 0
    lines_kept: int = 0
    lines_low_score: int = 0
    size_unknown: int = 0
    missing_chars: Counter = field(default_factory=Counter)
    languages_in: Counter = field(default_factory=Counter)  # entries per language (`entry_language`)
    dropped_languages: dict[str, Counter] = field(default_factory=dict)  # reason -> language -> count

    def drop(self, reason: str, language: str) -> None:
        self.dropped[reason] += 1
        self.dropped_languages.setdefault(reason, Counter())[language] += 1

    def language_steps(self) -> list[tuple[str, dict[str, int]]]:
        """Entries per language at the input and left after each step that dropped some."""
        left = Counter({lang: self.languages_in[lang] for lang in LANGUAGES})
        steps = [("input", dict(left))]
        for reason in DROP_REASONS:
            if self.dropped[reason]:
                left.subtract(self.dropped_languages.get(reason, Counter()))
                steps.append((reason, {lang: left[lang] for lang in LANGUAGES}))
        return steps

    def as_dict(self) -> dict[str, Any]:
        return {
            "entries": self.entries,
            "kept": self.kept,
            "dropped": {reason: self.dropped[reason] for reason in DROP_REASONS if self.dropped[reason]},
            "languages": {step: counts for step, counts in self.language_steps()},
            "lines_in": self.lines_in,
            "lines_kept": self.lines_kept,
            "lines_low_score": self.lines_low_score,
            "size_unknown": self.size_unknown,
            "top_missing_chars": "".join(ch for ch, _ in self.missing_chars.most_common(20)),
        }

    def summary(self) -> str:
        pct = 100.0 * self.kept / self.entries if self.entries else 0.0
        lines = [f"entries: {self.entries}, kept: {self.kept} ({pct:.1f}%)"]
        for reason in DROP_REASONS:
            if self.dropped[reason]:
                lines.append(f"  dropped {reason}: {self.dropped[reason]}")
        lines.append("entries per language, at the input and left after each step:")
        lines.append(f"  {'step':<18}" + "".join(f"{lang:>10}" for lang in LANGUAGES))
        for step, counts in self.language_steps():
            lines.append(f"  {step:<18}" + "".join(f"{counts[lang]:>10}" for lang in LANGUAGES))
        lines.append(f"text lines: {self.lines_in} in, {self.lines_kept} kept as valid")
        if self.lines_low_score:
            lines.append(f"  lines marked invalid for a low rec_score: {self.lines_low_score}")
        if self.size_unknown:
            lines.append(f"entries without a known image size (size test skipped): {self.size_unknown}")
        if self.missing_chars:
            lines.append("characters the font lacks (most common): " + self.as_dict()["top_missing_chars"])
        return "\n".join(lines)


def _image_size(entry: dict, data_root: str, check_images: bool) -> tuple[int, int] | None | bool:
    """(width, height), None when unknown, False when the image file is missing."""
    width, height = entry.get("width"), entry.get("height")
    if isinstance(width, int) and isinstance(height, int):
        return width, height
    if check_images and data_root:
        from PIL import Image

        try:
            with Image.open(os.path.join(data_root, str(entry.get("img_name", "")))) as image:
                return image.size  # reads the header only
        except (OSError, ValueError):
            return False
    return None


class AnyWordFilter:
    """Applies a FilterConfig to entries; `__call__` returns the cleaned entry or None (counted)."""

    def __init__(self, config: FilterConfig, data_root: str = ""):
        self.config = config
        self.data_root = data_root
        self.stats = FilterStats()
        self.language = "other"
        if config.check_font:
            from wenchuang.layout import fonts

            self.font = fonts.resolve_font(config.font)
            self.missing = fonts.missing_characters

    def _drop(self, reason: str) -> None:
        self.stats.drop(reason, self.language)

    def __call__(self, entry: dict) -> dict | None:
        """The cleaned entry, or None (the reason counted); `self.language` is the entry's language."""
        cfg, stats = self.config, self.stats
        stats.entries += 1
        annotations = [a for a in entry.get("annotations") or [] if a.get("polygon")]
        stats.lines_in += len(annotations)
        self.language = entry_language(
            [str(a.get("text", "")) for a in annotations if a.get("valid", True) is not False]
        )
        stats.languages_in[self.language] += 1
        if not annotations:
            return self._drop("no_annotations")
        wm_score = entry.get("wm_score")
        if cfg.max_wm_score is not None and isinstance(wm_score, int | float) and wm_score > cfg.max_wm_score:
            return self._drop("watermark_score")
        low = 0
        cleaned = []
        for annotation in annotations:
            annotation = dict(annotation)
            score = annotation.get("rec_score")
            if (
                annotation.get("valid", True) is not False
                and cfg.min_rec_score is not None
                and isinstance(score, int | float)
                and score < cfg.min_rec_score
            ):
                annotation["valid"] = False
                low += 1
            cleaned.append(annotation)
        valid = [a for a in cleaned if a.get("valid", True) is not False]
        texts = [str(a.get("text", "")) for a in valid]
        if cfg.drop_watermark_text and any(is_watermark_text(str(a.get("text", ""))) for a in cleaned):
            return self._drop("watermark_text")
        if len(valid) < cfg.min_lines:
            return self._drop("too_few_lines")
        if cfg.max_lines is not None and len(valid) > cfg.max_lines:
            return self._drop("too_many_lines")
        if cfg.max_chars is not None and any(len(t) > cfg.max_chars for t in texts):
            return self._drop("line_too_long")
        if cfg.check_font:
            missing = [ch for t in texts for ch in self.missing(t, self.font)]
            if missing:
                stats.missing_chars.update(missing)
                return self._drop("missing_glyphs")
        if cfg.min_size is not None or cfg.check_images:
            size = _image_size(entry, self.data_root, cfg.check_images)
            if size is False:
                return self._drop("image_missing")
            if size is None:
                stats.size_unknown += 1
            elif cfg.min_size is not None and min(size) < cfg.min_size:
                return self._drop("image_too_small")
        if cfg.language:
            han = latin = 0
            for t in texts:
                h, lat = count_scripts(t)
                han, latin = han + h, latin + lat
            target, other = (han, latin) if cfg.language == "chinese" else (latin, han)
            if target == 0 or target < cfg.language_ratio * other:
                return self._drop("language_ratio")
        elif cfg.balanced and self.language == "other":
            return self._drop("no_script")
        stats.kept += 1
        stats.lines_kept += len(valid)
        stats.lines_low_score += low
        result = dict(entry)
        result["annotations"] = cleaned
        return result


def filter_anyword(
    in_path: str | Path, out_path: str | Path, config: FilterConfig | None = None, progress: bool = True
) -> FilterStats:
    """Stream `in_path` through the filter into `out_path` (an AnyWord file of the kept entries).

    Balanced mode (the default) takes two passes in flat memory: the first writes the entries that
    pass the other tests, one JSON line each with its language, to ``OUT.pass1``; the second picks
    the entries to keep from it by selection sampling (each group's entries are kept with probability
    still-needed / still-to-come, from a generator seeded with `config.seed`), in input order.
    """
    from tqdm import tqdm

    in_path, out_path = Path(in_path), Path(out_path)
    if not in_path.is_file():
        raise WenchuangError(f"{in_path}: no such file")
    if in_path.resolve() == out_path.resolve():
        raise WenchuangError("the output file must differ from the input file")
    config = config or FilterConfig()
    header = AnyWordHeader()
    entries = iter_anyword(in_path, header)
    first = next(entries, None)  # the keys before data_list are known once the first entry is read
    keep = AnyWordFilter(config, header.data_root)  # a bad --font fails here, before a file is opened
    stats = keep.stats
    if not config.balanced:
        writer = AnyWordWriter(out_path, header.before)
        try:
            with tqdm(desc="filter", unit=" entries", disable=not progress, mininterval=1.0) as bar:
                if first is not None:
                    for entry in _chain(first, entries):
                        kept = keep(entry)
                        if kept is not None:
                            writer.write(kept)
                        bar.update(1)
        except BaseException:
            writer.abort()
            raise
        writer.close(header.after)
        return stats

    out_path.parent.mkdir(parents=True, exist_ok=True)
    scratch = out_path.with_name(out_path.name + ".pass1")
    available: Counter = Counter()
    try:
        with open(scratch, "w", encoding="utf-8") as handle:
            with tqdm(desc="filter", unit=" entries", disable=not progress, mininterval=1.0) as bar:
                if first is not None:
                    for entry in _chain(first, entries):
                        lines, low = stats.lines_kept, stats.lines_low_score
                        kept = keep(entry)
                        if kept is not None:  # "c|l <valid lines> <low-score lines> <entry>"
                            available[keep.language] += 1
                            counts = f"{stats.lines_kept - lines} {stats.lines_low_score - low} "
                            handle.write(keep.language[0] + counts + json.dumps(kept, ensure_ascii=False) + "\n")
                        bar.update(1)
        wanted = dict(
            zip(
                ("chinese", "latin"),
                balance_counts(available["chinese"], available["latin"], config.language_ratio, config.target_size),
            )
        )
        remaining = {lang: available[lang] for lang in wanted}
        rngs = {lang: random.Random(config.seed * 2 + i) for i, lang in enumerate(wanted)}
        writer = AnyWordWriter(out_path, header.before)
        try:
            with open(scratch, encoding="utf-8") as handle:
                for line in tqdm(handle, desc="balance", total=sum(available.values()), disable=not progress):
                    lang = "chinese" if line[0] == "c" else "latin"
                    lines, low, text = line[1:].split(" ", 2)
                    chosen = rngs[lang].random() * remaining[lang] < wanted[lang]
                    remaining[lang] -= 1
                    if chosen:
                        wanted[lang] -= 1
                        writer.write(json.loads(text))
                    else:
                        stats.drop("language_balance", lang)
                        stats.kept -= 1
                        stats.lines_kept -= int(lines)
                        stats.lines_low_score -= int(low)
        except BaseException:
            writer.abort()
            raise
        writer.close(header.after)
    finally:
        scratch.unlink(missing_ok=True)
    return stats


def _chain(first: dict, rest: Iterator[dict]) -> Iterator[dict]:
    yield first
    yield from rest

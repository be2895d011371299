"""Twelve cultural-creative examples (Sanxingdui bronze masks, the Jinsha Golden Sun Bird, bronze
sacred trees; as mouse pads, bookmarks and postcards), with their layout, and their preview images,
which the classic engine renders into ``<data>/examples/`` (once, in the background)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wenchuang.request import DesignRequest, TextLine

logger = logging.getLogger("wenchuang.studio")


@dataclass(frozen=True)
class Example:
    key: str
    title_zh: str
    title_en: str
    prompt: str
    lines: tuple[tuple[str, tuple[int, int, int, int], str], ...]  # (text, (x1, y1, x2, y2), colour)
    width: int = 512
    height: int = 512
    seed: int = 2024

    def title(self, lang: str) -> str:
        return self.title_zh if lang == "zh" else self.title_en

    def text_lines(self) -> list[TextLine]:
        return [TextLine(text=t, polygon=rect_polygon(box), color=c) for t, box, c in self.lines]

    def request(self) -> DesignRequest:
        return DesignRequest(
            mode="generate",
            prompt=self.prompt,
            lines=self.text_lines(),
            width=self.width,
            height=self.height,
            seed=self.seed,
            image_count=1,
        )


def rect_polygon(box: tuple[float, float, float, float]) -> list[tuple[float, float]]:
    """(x1, y1, x2, y2) -> 4 points clockwise from the top-left."""
    x1, y1, x2, y2 = box
    return [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]


GOLD, BRONZE, JADE, INK, RED, WHITE = "#d4a537", "#8c6a3c", "#3f7f6a", "#2b2522", "#b0302a", "#fbf6ec"

EXAMPLES: tuple[Example, ...] = (
    Example(
        "mask_mousepad",
        "三星堆面具鼠标垫",
        "Bronze mask mouse pad",
        '一张三星堆青铜面具图案的鼠标垫，上面写着"三星堆"和"古蜀文明"',
        (("三星堆", (64, 96, 448, 224), GOLD), ("古蜀文明", (96, 320, 416, 416), BRONZE)),
        768,
        512,
        11,
    ),
    Example(
        "sunbird_bookmark",
        "太阳神鸟书签",
        "Golden Sun Bird bookmark",
        '金沙太阳神鸟金箔纹样的竖版书签，竖排写着"太阳神鸟"',
        (("太阳神鸟", (72, 128, 184, 640), GOLD),),
        256,
        768,
        12,
    ),
    Example(
        "tree_postcard",
        "青铜神树明信片",
        "Bronze tree postcard",
        '青铜神树的明信片，写着"青铜神树"和"来自广汉的问候"',
        (("青铜神树", (64, 64, 448, 176), JADE), ("来自广汉的问候", (64, 384, 704, 464), GOLD)),
        768,
        512,
        13,
    ),
    Example(
        "zongmu_postcard",
        "纵目面具明信片",
        "Protruding-eye mask postcard",
        '三星堆纵目面具的明信片，写着"纵目面具"和"千里眼 顺风耳"',
        (("纵目面具", (448, 64, 704, 160), GOLD), ("千里眼 顺风耳", (384, 400, 704, 464), RED)),
        768,
        512,
        14,
    ),
    Example(
        "goldmask_bookmark",
        "金面罩书签",
        "Gold mask bookmark",
        '三星堆黄金面罩的书签，竖排写着"黄金面罩"',
        (("黄金面罩", (64, 96, 192, 608), GOLD),),
        256,
        768,
        15,
    ),
    Example(
        "sunbird_mousepad",
        "太阳神鸟鼠标垫",
        "Sun Bird mouse pad",
        '金沙遗址太阳神鸟图案的鼠标垫，写着"金沙遗址"和"太阳神鸟"',
        (("金沙遗址", (448, 96, 704, 192), RED), ("太阳神鸟", (448, 288, 704, 384), GOLD)),
        768,
        512,
        16,
    ),
    Example(
        "bronze_figure_postcard",
        "青铜大立人明信片",
        "Bronze standing figure postcard",
        '青铜大立人像的明信片，写着"青铜大立人"',
        (("青铜大立人", (128, 384, 640, 480), GOLD),),
        768,
        512,
        17,
    ),
    Example(
        "tree_bookmark",
        "通天神树书签",
        "Sacred tree bookmark",
        '青铜神树纹样的竖版书签，竖排写着"通天神树"',
        (("通天神树", (72, 96, 184, 608), GOLD),),
        256,
        768,
        18,
    ),
    Example(
        "mask_mousepad_en",
        "面具鼠标垫（英文）",
        "Mask mouse pad (English)",
        'a mouse pad with a bronze mask pattern, with the words "SANXINGDUI" and "Ancient Shu"',
        (("SANXINGDUI", (64, 64, 704, 192), GOLD), ("Ancient Shu", (192, 320, 576, 416), BRONZE)),
        768,
        512,
        19,
    ),
    Example(
        "chengdu_postcard",
        "成都明信片（中英）",
        "Chengdu postcard (bilingual)",
        'a postcard of the Golden Sun Bird, with "Hello Chengdu" and "你好成都"',
        (("Hello Chengdu", (64, 64, 512, 160), WHITE), ("你好成都", (64, 192, 384, 288), GOLD)),
        768,
        512,
        20,
    ),
    Example(
        "jinsha_bookmark",
        "金沙书签（中英）",
        "Jinsha bookmark (bilingual)",
        '金沙太阳神鸟书签，写着"金沙"和"Jinsha"',
        (("金沙", (48, 96, 208, 256), GOLD), ("Jinsha", (48, 576, 208, 656), INK)),
        256,
        768,
        21,
    ),
    Example(
        "tree_mousepad_bilingual",
        "神树鼠标垫（中英）",
        "Sacred tree mouse pad (bilingual)",
        '青铜神树图案的鼠标垫，写着"青铜神树"和"Bronze Sacred Tree"',
        (("青铜神树", (64, 64, 384, 160), WHITE), ("Bronze Sacred Tree", (64, 384, 704, 464), GOLD)),
        768,
        512,
        22,
    ),
)


def example_by_key(key: str) -> Example:
    for ex in EXAMPLES:
        if ex.key == key:
            return ex
    raise KeyError(key)


class ExampleRenderer:
    """Renders the previews with the classic engine into `folder`, once, on a background thread."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def path(self, ex: Example) -> Path:
        return self.folder / f"{ex.key}.png"

    def ready(self) -> list[tuple[Example, Path]]:
        return [(ex, self.path(ex)) for ex in EXAMPLES if self.path(ex).is_file()]

    def render_one(self, ex: Example, engine=None) -> np.ndarray:
        from wenchuang.engines.base import run_request
        from wenchuang.engines.registry import create_engine
        from wenchuang.images import write_bytes_atomic
        from wenchuang.studio.gallery import png_bytes

        engine = engine or create_engine("classic")
        image = run_request(engine, ex.request()).images[0]
        write_bytes_atomic(self.path(ex), png_bytes(image))
        return image

    def start(self, delay_s: float = 0.0) -> None:
        """Render the missing previews on a background thread, after `delay_s` (let the server start)."""
        with self._lock:
            if self._thread is not None or len(self.ready()) == len(EXAMPLES):
                return
            self._thread = threading.Thread(
                target=self._render_missing, args=(delay_s,), name="wenchuang-examples", daemon=True
            )
            self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _render_missing(self, delay_s: float = 0.0) -> None:
        time.sleep(delay_s)
        try:
            from wenchuang.engines.registry import create_engine

            engine = create_engine("classic")
            for ex in EXAMPLES:
                if not self.path(ex).is_file():
                    self.render_one(ex, engine)
        except Exception as exc:  # previews are a nicety: never break the server for them
            logger.warning("could not render the example previews: %s", exc)

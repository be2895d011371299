"""The Gradio UI, in Chinese (``/zh/``) and English (``/en/``); ``/`` picks one from the browser.

Tabs: Generate, Edit text, Remove text, Gallery. One shared engine/model picker and one shared
parameter panel (official AnyText defaults and ranges). Every run goes through the studio's job
queue and lands in the gallery, exactly like an API call. Nothing typed in the UI becomes a path:
models are chosen from the allow-listed models folder, fonts from the registered font names.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

import gradio as gr
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse

from wenchuang import request as rq
from wenchuang.engines import registry
from wenchuang.errors import WenchuangError
from wenchuang.images import write_bytes_atomic
from wenchuang.layout.fonts import DEFAULT_FONT, available_fonts
from wenchuang.studio.examples import ExampleRenderer
from wenchuang.studio.jobs import QueueFull
from wenchuang.studio.service import Studio
from wenchuang.studio.ui_logic import (
    DRAW_RECTANGLES,
    DRAW_STROKES,
    auto_translation,
    blank_canvas,
    canvas_with_boxes,
    debug_images,
    editor_parts,
    lines_from_rows,
    ocr_markdown,
    regions_from_mask,
    scale_regions,
    translate_for_ui,
    translated_field,
)

LANGS = ("zh", "en")
MAX_ROWS = rq.MAX_LINES

# (Chinese, English)
_T: dict[str, tuple[str, str]] = {
    "title": (
        "文创工作室 · 文字精准的文创图像",
        "Wenchuang Studio · cultural-creative images with exact text",
    ),
    "switch": ("[English](/en/)", "[中文](/zh/)"),
    "local": ("一切都在本机运行，不上传任何数据。", "Everything runs on this machine; nothing is uploaded."),
    "engine": ("引擎", "Engine"),
    "auto_engine": (
        "自动（有 AnyText 权重时用 AnyText，否则 classic）",
        "auto (AnyText when its weights are ready, else classic)",
    ),
    "model": ("模型（来自模型文件夹）", "Model (from the models folder)"),
    "default_model": ("默认", "default"),
    "engines_md": ("引擎与模型", "Engines and models"),
    "tab_generate": ("生成", "Generate"),
    "tab_edit": ("改字", "Edit text"),
    "tab_remove": ("去字", "Remove text"),
    "tab_gallery": ("图库", "Gallery"),
    "prompt": ("提示词（引号中的文字会被写入图中）", "Prompt (text in quotes is written into the image)"),
    "prompt_ph": (
        '例如：一张三星堆青铜面具图案的鼠标垫，上面写着"三星堆"',
        'e.g. a mouse pad with a bronze mask pattern, with the words "SANXINGDUI"',
    ),
    "prompt_en": (
        "模型用英文提示词（可修改；留空则自动翻译）",
        "English prompt for the model (editable; empty = translated automatically)",
    ),
    "prompt_en_info": (
        "AnyText 只读英文：中文提示词译成英文后交给模型，引号里的文字不翻译，每个 * 代表一行文字。界面语言不影响它。",
        "AnyText reads English only: a Chinese prompt is translated for the model; quoted text is never "
        "translated and each * stands for one text line. The UI language does not change it.",
    ),
    "translate": ("翻译 / Translate", "Translate / 翻译"),
    "tr_model": ("由 {} 翻译", "translated by {}"),
    "tr_glossary_only": (
        "仅用术语表翻译（未加载翻译模型），请检查英文",
        "glossary only (no translation model): check it",
    ),
    "tr_terms": ("术语表", "glossary"),
    "lines": (
        "文字行（每行对应一个画出的区域，按阅读顺序）",
        "Text lines (one per drawn region, in reading order)",
    ),
    "n_lines": ("行数", "Number of lines"),
    "line_text": ("第 {} 行", "Line {}"),
    "font": ("字体", "Font"),
    "color": ("颜色", "Colour"),
    "canvas": (
        "在画布上画出文字位置（每一笔是一个区域）",
        "Draw where the text goes (one region per stroke)",
    ),
    "canvas_edit": (
        "上传图片，并在要改的文字上涂画（每一笔是一个区域）",
        "Upload the image and paint over the text to change (one region per stroke)",
    ),
    "canvas_remove": ("上传图片，并涂画要去掉的文字", "Upload the image and paint over the text to remove"),
    "draw_mode": ("区域形状", "Region shape"),
    "rectangles": ("矩形", "Rectangles"),
    "strokes": ("自由笔画", "Free strokes"),
    "reset_canvas": ("清空画布", "Clear canvas"),
    "run_generate": ("生成", "Generate"),
    "run_edit": ("改字", "Edit"),
    "run_remove": ("去字", "Remove"),
    "remove_all": ("去掉检测到的全部文字", "Remove all detected text"),
    "results": ("结果", "Results"),
    "ocr": ("逐行 OCR 检查", "Per-line OCR check"),
    "debug": ("调试视图（字形、位置、遮罩）", "Debug view (glyphs, positions, masked image)"),
    "show_debug": ("显示调试视图", "Show debug view"),
    "params": ("参数", "Parameters"),
    "image_count": ("图片数量", "Image count"),
    "steps": ("步数", "Steps"),
    "guidance": ("引导强度 (CFG)", "Guidance scale (CFG)"),
    "strength": ("控制强度", "Strength"),
    "eta": ("eta (DDIM)", "eta (DDIM)"),
    "seed": ("种子（-1 为随机）", "Seed (-1 = random)"),
    "randomize": ("🎲 随机种子", "🎲 Random seed"),
    "width": ("宽度", "Width"),
    "height": ("高度", "Height"),
    "extra_prompt": ("附加提示词", "Extra prompt"),
    "negative_prompt": ("反向提示词", "Negative prompt"),
    "sort": ("区域排序", "Region order"),
    "top_down": ("↕ 从上到下", "↕ top-down"),
    "left_right": ("↔ 从左到右", "↔ left-right"),
    "revise": ("修正位置（仅 AnyText）", "Revise positions (AnyText only)"),
    "examples": (
        "示例（点击载入；预览图由 classic 引擎生成）",
        "Examples (click to load; previews made by the classic engine)",
    ),
    "refresh": ("刷新", "Refresh"),
    "history": ("历史记录（最新在前）", "History (newest first)"),
    "details": ("详情", "Details"),
    "rerun": ("用相同设置重新运行", "Re-run with the same settings"),
    "download": ("下载这张", "Download this one"),
    "download_zip": ("打包下载全部显示的图片 (zip)", "Download all shown (zip)"),
    "select_first": ("请先在图库中选择一张图片。", "Select an image in the gallery first."),
    "image": ("图", "Image"),
    "line": ("行", "Line"),
    "expected": ("应为", "Expected"),
    "read": ("识别为", "Read"),
    "confidence": ("置信度", "Confidence"),
    "erased": ("（已擦除）", "(erased)"),
    "no_ocr": ("（此结果没有 OCR 检查）", "(no OCR check for this result)"),
    "queue_full": ("任务队列已满，请 {} 秒后再试。", "The job queue is full; try again in {} s."),
    "too_fast": ("请求太频繁，请稍后再试。", "Too many requests; please slow down."),
    "no_image": ("请先上传图片。", "Upload an image first."),
    "done": (
        "完成：{} 张图，引擎 {}，种子 {}，用时 {:.2f} 秒。已存入图库：{}",
        "Done: {} image(s), engine {}, seeds {}, {:.2f} s. Saved to the gallery: {}",
    ),
    "ready": ("就绪", "ready"),
    "not_ready": ("未就绪", "not ready"),
}


def texts(lang: str) -> dict[str, str]:
    i = 0 if lang == "zh" else 1
    return {k: v[i] for k, v in _T.items()}


def _client(request: gr.Request | None) -> str:
    if request is None:
        return "ui"
    inner = getattr(request, "request", None)
    scope = getattr(inner, "scope", None) or {}
    return scope.get("state", {}).get("wenchuang_client") or getattr(
        getattr(request, "client", None), "host", "ui"
    )


def engines_markdown(studio: Studio, t: dict[str, str]) -> str:
    rows = [f"**{t['engines_md']}**", "", f"| {t['engine']} | | |", "|---|---|---|"]
    for e in studio.engines():
        state = f"✅ {t['ready']}" if e["ready"] else f"⛔ {t['not_ready']}"
        rows.append(f"| {e['name']} | {state} | {e['detail']} |")
        if e.get("help"):
            rows.append(f"| | | {e['help']} |")
    models = studio.models()
    rows.append("")
    rows.append(f"{t['model']}: {', '.join(models) if models else '—'}  (`{studio.config.models_dir}`)")
    return "\n".join(rows)


class StudioUI:
    """Builds the Blocks for one language; its handlers call into `Studio`."""

    def __init__(self, studio: Studio, lang: str, examples: ExampleRenderer):
        self.studio, self.lang, self.t, self.examples = studio, lang, texts(lang), examples

    # -- running jobs --------------------------------------------------------------------------
    def _run(self, request: gr.Request | None, data: dict[str, Any], mode: str, image=None, mask=None):
        studio, t = self.studio, self.t
        client = _client(request)
        if studio.job_limiter.check(client) > 0:
            studio.violations.record(client, "rate")
            raise gr.Error(t["too_fast"])
        try:
            req, engine, model = studio.build_request(data, mode, image=image, mask=mask)
            keep: dict[str, Any] = {}
            job = studio.submit(mode, client, req, engine, model, source="ui", keep=keep)
        except QueueFull as exc:
            raise gr.Error(t["queue_full"].format(exc.retry_after)) from None
        except WenchuangError as exc:
            raise gr.Error(str(exc)) from None
        studio.queue.wait(job, None)
        if job.status != "done":
            raise gr.Error((job.error or {}).get("message", "failed"))
        result, summary = keep["result"], job.result
        gallery = [(img, f"seed {s}") for img, s in zip(result.images, result.seeds)]
        ids = ", ".join(im["id"] for im in summary["images"])
        total = (job.finished or 0) - (job.started or 0)
        info = t["done"].format(
            len(result.images), result.engine, ", ".join(map(str, result.seeds)), total, ids
        )
        if result.warnings:
            info += "\n\n" + "\n".join(f"⚠ {w}" for w in result.warnings)
        return gallery, ocr_markdown(result, t), info, debug_images(result)

    def _common(
        self,
        engine,
        model,
        image_count,
        steps,
        guidance,
        strength,
        eta,
        seed,
        width,
        height,
        extra,
        negative,
        sort,
        revise,
    ) -> dict[str, Any]:
        return {
            "engine": engine or None,
            "model": None if model in (None, "", "__default__") else model,
            "image_count": int(image_count),
            "steps": int(steps),
            "guidance_scale": float(guidance),
            "strength": float(strength),
            "eta": float(eta),
            "seed": int(seed),
            "width": int(width),
            "height": int(height),
            "extra_prompt": extra or "",
            "negative_prompt": negative or "",
            "sort_priority": sort,
            "revise_positions": bool(revise),
        }

    def _rows(self, n, values) -> tuple[list, list, list]:
        n = int(n)
        texts_, fonts, colors = values[:MAX_ROWS], values[MAX_ROWS : 2 * MAX_ROWS], values[2 * MAX_ROWS :]
        return list(texts_[:n]), list(fonts[:n]), list(colors[:n])

    # -- the English prompt for the model ------------------------------------------------------
    def _tr_labels(self) -> dict[str, str]:
        t = self.t
        return {"model": t["tr_model"], "glossary_only": t["tr_glossary_only"], "terms": t["tr_terms"]}

    def translate(self, prompt, n_lines, *line_texts):
        """The Translate button: (English prompt, notes, the new automatic text)."""
        try:
            text, notes = translate_for_ui(prompt, list(line_texts[: int(n_lines)]), self._tr_labels())
        except WenchuangError as exc:
            raise gr.Error(str(exc)) from None
        return text, notes, text

    def auto_translate(self, prompt, current, last_auto, n_lines, *line_texts):
        """When the prompt is left: fill the English box unless the user has edited it."""
        try:
            out = auto_translation(
                prompt, current, last_auto, list(line_texts[: int(n_lines)]), self._tr_labels()
            )
        except WenchuangError:  # e.g. lines that do not match: shown when the user runs the job
            out = None
        return out if out is not None else (gr.update(), gr.update(), gr.update())

    def generate(self, request: gr.Request, prompt, prompt_en, editor, draw_mode, n_lines, *values):
        rows, params = values[: 3 * MAX_ROWS], values[3 * MAX_ROWS :]
        common = self._common(*params)
        try:
            background, mask = editor_parts(editor)
            regions = regions_from_mask(mask, draw_mode, common["sort_priority"])
            if background is not None and regions:
                regions = scale_regions(
                    regions, (background.shape[1], background.shape[0]), (common["width"], common["height"])
                )
            lines = lines_from_rows(*self._rows(n_lines, rows), regions, prompt or "")
        except WenchuangError as exc:
            raise gr.Error(str(exc)) from None
        data = {
            **common,
            "prompt": prompt or "",
            "translated_prompt": translated_field(prompt_en),
            "lines": [ln.to_dict() for ln in lines],
        }
        return self._run(request, data, "generate")

    def edit(self, request: gr.Request, prompt, prompt_en, editor, draw_mode, n_lines, *values):
        rows, params = values[: 3 * MAX_ROWS], values[3 * MAX_ROWS :]
        common = self._common(*params)
        try:
            background, mask = editor_parts(editor)
            if background is None:
                raise gr.Error(self.t["no_image"])
            regions = regions_from_mask(mask, draw_mode, common["sort_priority"])
            lines = lines_from_rows(*self._rows(n_lines, rows), regions, prompt or "")
        except WenchuangError as exc:
            raise gr.Error(str(exc)) from None
        data = {
            **common,
            "prompt": prompt or "",
            "translated_prompt": translated_field(prompt_en),
            "lines": [ln.to_dict() for ln in lines],
        }
        return self._run(request, data, "edit", image=background)

    def remove(self, request: gr.Request, editor, draw_mode, remove_all, *params):
        common = self._common(*params)
        try:
            background, mask = editor_parts(editor)
            if background is None:
                raise gr.Error(self.t["no_image"])
            regions = regions_from_mask(mask, draw_mode, common["sort_priority"]) if not remove_all else []
        except WenchuangError as exc:
            raise gr.Error(str(exc)) from None
        data = {
            **common,
            "remove_regions": [[list(p) for p in r] for r in regions],
            "remove_all_text": bool(remove_all),
        }
        return self._run(request, data, "edit", image=background)

    # -- gallery -------------------------------------------------------------------------------
    def history(self):
        items = self.studio.gallery.list(limit=60)
        shown = [
            (str(self.studio.gallery.image_path(m["id"])), f"{m['engine']} · seed {m['seed']}") for m in items
        ]
        return shown, [m["id"] for m in items]

    def select(self, ids: list[str], evt: gr.SelectData):
        if not ids or evt.index is None or evt.index >= len(ids):
            return None, None, None
        entry_id = ids[evt.index]
        return entry_id, self.studio.gallery.metadata(entry_id), str(self.studio.gallery.image_path(entry_id))

    def rerun(self, request: gr.Request, entry_id: str | None):
        if not entry_id:
            raise gr.Error(self.t["select_first"])
        req, engine, model = self.studio.gallery.rerun_request(entry_id)
        data = req.to_dict()
        data.update({"engine": engine})
        data.pop("mode", None)
        if model:
            data["model"] = Path(model).name
        return self._run(request, data, req.mode, image=req.image, mask=req.mask)

    def zip_shown(self, ids: list[str]):
        if not ids:
            raise gr.Error(self.t["select_first"])
        folder = self.studio.config.data_dir / "cache" / "downloads"
        path = folder / f"wenchuang-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.zip"
        write_bytes_atomic(path, self.studio.gallery.zip_bytes(ids))
        return str(path)

    # -- examples ------------------------------------------------------------------------------
    def example_previews(self):
        return [(str(path), ex.title(self.lang)) for ex, path in self.examples.ready()]

    def load_example(self, evt: gr.SelectData):
        ready = self.examples.ready()
        if evt.index is None or evt.index >= len(ready):
            return [gr.update()] * (8 + 3 * MAX_ROWS)
        ex = ready[evt.index][0]
        lines = ex.text_lines()
        texts_ = [ln.text for ln in lines] + [""] * (MAX_ROWS - len(lines))
        fonts = [DEFAULT_FONT] * MAX_ROWS
        colors = [ln.color for ln in lines] + [None] * (MAX_ROWS - len(lines))
        canvas = canvas_with_boxes(ex.width, ex.height, [ln.polygon for ln in lines])
        # the English box is emptied (the engine translates the new prompt) with its notes
        return [
            ex.prompt,
            canvas,
            DRAW_RECTANGLES,
            len(lines),
            ex.width,
            ex.height,
            *texts_,
            *fonts,
            *colors,
            "",
            "",
        ]

    # -- layout --------------------------------------------------------------------------------
    def _line_rows(self, prefix: str):
        t = self.t
        fonts = sorted(available_fonts())
        n = gr.Slider(1, MAX_ROWS, value=2, step=1, label=t["n_lines"])
        texts_, font_boxes, colors, rows = [], [], [], []
        for i in range(MAX_ROWS):
            with gr.Row(visible=i < 2) as row:
                texts_.append(
                    gr.Textbox(
                        label=t["line_text"].format(i + 1),
                        max_length=rq.MAX_CHARS_PER_LINE,
                        scale=4,
                        elem_id=f"{prefix}-line-{i}",
                    )
                )
                font_boxes.append(
                    gr.Dropdown(
                        fonts,
                        value=DEFAULT_FONT if DEFAULT_FONT in fonts else None,
                        label=t["font"],
                        scale=2,
                        allow_custom_value=False,
                    )
                )
                # no colour = the engine picks an ink that contrasts with the background
                colors.append(gr.ColorPicker(value=None, label=t["color"], scale=1))
            rows.append(row)
        n.change(lambda k: [gr.update(visible=i < int(k)) for i in range(MAX_ROWS)], n, rows)
        return n, texts_, font_boxes, colors

    def _english_prompt(self, prefix: str):
        """The editable English prompt for the model, its Translate button, notes, and the last
        automatic text (to tell the user's edits from it)."""
        t = self.t
        with gr.Row():
            box = gr.Textbox(
                label=t["prompt_en"],
                info=t["prompt_en_info"],
                lines=2,
                max_length=rq.MAX_PROMPT_CHARS,
                scale=4,
                elem_id=f"{prefix}-prompt-en",
            )
            button = gr.Button(t["translate"], size="sm", scale=1, elem_id=f"{prefix}-translate")
        notes = gr.Markdown(elem_id=f"{prefix}-translation-notes")
        return box, button, notes, gr.State("")

    def _wire_translation(self, prompt, box, button, notes, last, n_lines, line_texts) -> None:
        button.click(self.translate, [prompt, n_lines, *line_texts], [box, notes, last])
        prompt.blur(self.auto_translate, [prompt, box, last, n_lines, *line_texts], [box, notes, last])

    def _results(self, prefix: str):
        t = self.t
        gallery = gr.Gallery(
            label=t["results"],
            columns=2,
            height=480,
            format="png",
            object_fit="contain",
            elem_id=f"{prefix}-results",
        )
        info = gr.Markdown()
        ocr = gr.Markdown(label=t["ocr"], elem_id=f"{prefix}-ocr")
        with gr.Accordion(t["debug"], open=False):
            debug = gr.Gallery(label=t["debug"], columns=3, height=260, format="png", object_fit="contain")
        return [gallery, ocr, info, debug]

    def _editor(self, label: str, blank: bool, elem_id: str):
        return gr.ImageEditor(
            value=blank_canvas(512, 512) if blank else None,
            label=label,
            type="numpy",
            image_mode="RGBA",  # alpha kept: editor_parts flattens it onto white like every decoder
            sources=("upload", "clipboard"),
            brush=gr.Brush(colors=["#ff3b30"], color_mode="fixed", default_size=24),
            eraser=gr.Eraser(default_size=24),
            layers=False,
            transforms=(),
            canvas_size=(512, 512),
            height=520,
            elem_id=elem_id,
        )

    def build(self) -> gr.Blocks:
        t, studio = self.t, self.studio
        # engine readiness is looked up when the page loads, not here: server start stays fast
        engine_choices = [(t["auto_engine"], "")] + [(n, n) for n in registry.engine_names()]
        # delete_cache: every hour, Gradio removes its temporary files older than a day
        with gr.Blocks(title="Wenchuang Studio", analytics_enabled=False, delete_cache=(3600, 86400)) as demo:
            with gr.Row():
                gr.Markdown(f"## {t['title']}\n{t['local']}  ·  {t['switch']}")
            with gr.Row():
                engine = gr.Dropdown(
                    engine_choices, value=studio.config.default_engine or "", label=t["engine"], scale=1
                )
                model = gr.Dropdown(
                    [(t["default_model"], "__default__")] + [(m, m) for m in studio.models()],
                    value="__default__",
                    label=t["model"],
                    scale=1,
                )
            with gr.Accordion(t["engines_md"], open=False):
                engines_md = gr.Markdown()

            with gr.Accordion(t["params"], open=False, elem_id="params"):
                with gr.Row():
                    image_count = gr.Slider(
                        1, rq.MAX_IMAGE_COUNT, value=4, step=1, label=t["image_count"], elem_id="image-count"
                    )
                    steps = gr.Slider(1, rq.MAX_STEPS, value=20, step=1, label=t["steps"])
                    guidance = gr.Slider(
                        rq.MIN_GUIDANCE, rq.MAX_GUIDANCE, value=9.0, step=0.1, label=t["guidance"]
                    )
                with gr.Row():
                    strength = gr.Slider(
                        rq.MIN_STRENGTH, rq.MAX_STRENGTH, value=1.0, step=0.01, label=t["strength"]
                    )
                    eta = gr.Number(value=0.0, minimum=0.0, maximum=1.0, label=t["eta"])
                    seed = gr.Number(value=-1, minimum=-1, maximum=rq.MAX_SEED, precision=0, label=t["seed"])
                    dice = gr.Button(t["randomize"], size="sm")
                with gr.Row():
                    width = gr.Slider(
                        rq.MIN_SIDE, rq.MAX_SIDE, value=512, step=rq.SIDE_MULTIPLE, label=t["width"]
                    )
                    height = gr.Slider(
                        rq.MIN_SIDE, rq.MAX_SIDE, value=512, step=rq.SIDE_MULTIPLE, label=t["height"]
                    )
                    sort = gr.Radio(
                        [(t["top_down"], "top-down"), (t["left_right"], "left-right")],
                        value="top-down",
                        label=t["sort"],
                    )
                    revise = gr.Checkbox(False, label=t["revise"])
                extra = gr.Textbox(
                    rq.DEFAULT_EXTRA_PROMPT, label=t["extra_prompt"], max_length=rq.MAX_PROMPT_CHARS
                )
                negative = gr.Textbox(
                    rq.DEFAULT_NEGATIVE_PROMPT, label=t["negative_prompt"], max_length=rq.MAX_PROMPT_CHARS
                )
            dice.click(lambda: random.SystemRandom().randint(0, 99_999_999), None, seed)
            params = [
                engine,
                model,
                image_count,
                steps,
                guidance,
                strength,
                eta,
                seed,
                width,
                height,
                extra,
                negative,
                sort,
                revise,
            ]
            draw_choices = [(t["rectangles"], DRAW_RECTANGLES), (t["strokes"], DRAW_STROKES)]

            with gr.Tabs():
                with gr.Tab(t["tab_generate"], id="generate"):
                    with gr.Row():
                        with gr.Column(scale=1):
                            g_prompt = gr.Textbox(
                                label=t["prompt"],
                                placeholder=t["prompt_ph"],
                                lines=2,
                                max_length=rq.MAX_PROMPT_CHARS,
                                elem_id="g-prompt",
                            )
                            g_en, g_translate, g_tr_notes, g_tr_last = self._english_prompt("g")
                            g_n, g_texts, g_fonts, g_colors = self._line_rows("g")
                            g_mode = gr.Radio(draw_choices, value=DRAW_RECTANGLES, label=t["draw_mode"])
                            g_editor = self._editor(t["canvas"], True, "g-canvas")
                            with gr.Row():
                                g_reset = gr.Button(t["reset_canvas"], size="sm")
                                g_run = gr.Button(t["run_generate"], variant="primary", elem_id="g-run")
                        with gr.Column(scale=1):
                            g_out = self._results("g")
                    ex_gallery = gr.Gallery(
                        label=t["examples"],
                        columns=6,
                        height=420,
                        object_fit="contain",
                        allow_preview=False,
                        elem_id="examples",
                    )
                    g_reset.click(lambda w, h: blank_canvas(int(w), int(h)), [width, height], g_editor)
                    for side in (width, height):
                        side.release(lambda w, h: blank_canvas(int(w), int(h)), [width, height], g_editor)
                    self._wire_translation(g_prompt, g_en, g_translate, g_tr_notes, g_tr_last, g_n, g_texts)
                    g_inputs = [g_prompt, g_en, g_editor, g_mode, g_n, *g_texts, *g_fonts, *g_colors, *params]
                    g_run.click(self.generate, g_inputs, g_out, concurrency_limit=4)
                    ex_gallery.select(
                        self.load_example,
                        None,
                        [
                            g_prompt,
                            g_editor,
                            g_mode,
                            g_n,
                            width,
                            height,
                            *g_texts,
                            *g_fonts,
                            *g_colors,
                            g_en,
                            g_tr_notes,
                        ],
                    )

                with gr.Tab(t["tab_edit"], id="edit"):
                    with gr.Row():
                        with gr.Column(scale=1):
                            e_prompt = gr.Textbox(label=t["prompt"], lines=2, max_length=rq.MAX_PROMPT_CHARS)
                            e_en, e_translate, e_tr_notes, e_tr_last = self._english_prompt("e")
                            e_editor = self._editor(t["canvas_edit"], False, "e-canvas")
                            e_mode = gr.Radio(draw_choices, value=DRAW_RECTANGLES, label=t["draw_mode"])
                            e_n, e_texts, e_fonts, e_colors = self._line_rows("e")
                            e_run = gr.Button(t["run_edit"], variant="primary", elem_id="e-run")
                        with gr.Column(scale=1):
                            e_out = self._results("e")
                    self._wire_translation(e_prompt, e_en, e_translate, e_tr_notes, e_tr_last, e_n, e_texts)
                    e_run.click(
                        self.edit,
                        [e_prompt, e_en, e_editor, e_mode, e_n, *e_texts, *e_fonts, *e_colors, *params],
                        e_out,
                        concurrency_limit=4,
                    )

                with gr.Tab(t["tab_remove"], id="remove"):
                    with gr.Row():
                        with gr.Column(scale=1):
                            r_editor = self._editor(t["canvas_remove"], False, "r-canvas")
                            r_mode = gr.Radio(draw_choices, value=DRAW_STROKES, label=t["draw_mode"])
                            r_all = gr.Checkbox(False, label=t["remove_all"], elem_id="r-all")
                            r_run = gr.Button(t["run_remove"], variant="primary", elem_id="r-run")
                        with gr.Column(scale=1):
                            r_out = self._results("r")
                    r_run.click(self.remove, [r_editor, r_mode, r_all, *params], r_out, concurrency_limit=4)

                with gr.Tab(t["tab_gallery"], id="gallery") as gallery_tab:
                    ids = gr.State([])
                    selected = gr.State(None)
                    with gr.Row():
                        refresh = gr.Button(t["refresh"], size="sm", elem_id="h-refresh")
                        zip_btn = gr.Button(t["download_zip"], size="sm")
                        zip_file = gr.File(label=t["download_zip"], interactive=False, height=60)
                    with gr.Row():
                        history = gr.Gallery(
                            label=t["history"],
                            columns=5,
                            height=460,
                            allow_preview=False,
                            object_fit="contain",
                            elem_id="history",
                        )
                        with gr.Column():
                            details = gr.JSON(label=t["details"])
                            one_file = gr.File(label=t["download"], interactive=False, height=80)
                            rerun_btn = gr.Button(t["rerun"], variant="primary")
                    rerun_out = self._results("h")
                    refresh.click(self.history, None, [history, ids])
                    gallery_tab.select(self.history, None, [history, ids])
                    history.select(self.select, ids, [selected, details, one_file])
                    rerun_btn.click(self.rerun, selected, rerun_out, concurrency_limit=4)
                    zip_btn.click(self.zip_shown, ids, zip_file)

            demo.load(self.example_previews, None, ex_gallery)
            demo.load(lambda: engines_markdown(studio, t), None, engines_md)
        return demo


def mount_ui(app: FastAPI, studio: Studio) -> FastAPI:
    """Mount the UI at /zh and /en (analytics off, no share links, no /monitoring) and redirect /."""
    cfg = studio.config
    cache = cfg.data_dir / "cache" / "gradio"
    cache.mkdir(parents=True, exist_ok=True)
    os.environ["GRADIO_TEMP_DIR"] = str(cache)  # Gradio's own files stay inside the data folder
    renderer = ExampleRenderer(cfg.data_dir / "examples")
    if cfg.render_examples:
        renderer.start(delay_s=3.0)
    app.state.examples = renderer
    for lang in LANGS:
        demo = StudioUI(studio, lang, renderer).build()
        demo.queue(max_size=max(4, cfg.queue_size * 2), default_concurrency_limit=4)
        gr.mount_gradio_app(
            app,
            demo,
            path=f"/{lang}",
            server_name=cfg.host,
            server_port=cfg.port,
            allowed_paths=[str(cfg.gallery_dir), str(cfg.data_dir / "examples"), str(cfg.data_dir / "cache")],
            enable_monitoring=False,
            show_error=True,
            max_file_size=cfg.max_upload_bytes,
            ssr_mode=False,
            pwa=False,
            mcp_server=False,
            footer_links=["gradio", "settings"],
        )

    @app.get("/", include_in_schema=False)
    async def root(request: Request):
        accept = request.headers.get("accept-language", "").lower()
        lang = "en" if accept and not accept.lstrip().startswith("zh") else "zh"
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"/{lang}/{query}")

    return app

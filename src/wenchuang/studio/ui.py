"""The Gradio UI, in Chinese (``/zh/``) and English (``/en/``); ``/`` picks one from the browser.

Tabs: Generate, Edit text, Remove text, Gallery, Products (mock-up and print file of a gallery image). One shared engine/model picker and one shared
parameter panel (official AnyText defaults and ranges). Every run goes through the studio's job
queue and lands in the gallery, exactly like an API call. Nothing typed in the UI becomes a path:
models are chosen from the allow-listed models folder, fonts from the registered font names.

The words live in `ui_text` (one zh/en table), what the handlers compute in `ui_logic` (no Gradio);
here `StudioUI` builds the page, one builder per tab, and its handlers hand the jobs to `Studio`.
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
from PIL import Image

from wenchuang import request as rq
from wenchuang.engines import registry
from wenchuang.errors import WenchuangError
from wenchuang.images import write_bytes_atomic
from wenchuang.layout.fonts import DEFAULT_FONT, MIMIC_FONT, available_fonts
from wenchuang.studio.examples import ExampleRenderer
from wenchuang.studio.gallery import caption as gallery_caption
from wenchuang.studio.jobs import QueueFull
from wenchuang.studio.service import Studio
from wenchuang.studio.ui_logic import (
    DRAW_RECTANGLES,
    DRAW_STROKES,
    NO_FONT,
    auto_translation,
    blank_canvas,
    canvas_with_boxes,
    debug_images,
    editor_parts,
    lines_from_rows,
    ocr_markdown,
    oversized_upload,
    regions_from_mask,
    scale_regions,
    translate_for_ui,
    translated_field,
)
from wenchuang.studio.ui_text import LANGS, texts, translation_labels

MAX_ROWS = rq.MAX_LINES


def photo_editor(max_pixels: int, **options) -> gr.ImageEditor:
    """A `gr.ImageEditor` whose too-large upload gets the studio's one message naming the limit
    instead of Pillow's "decompression bomb" error (`wenchuang serve` turns Pillow's size warning
    into an error above the upload limit, and Gradio decodes the editor's images itself). The
    check wraps this instance's `preprocess` (a subclass would make Gradio write a .pyi file)."""
    editor = gr.ImageEditor(**options)
    decode = editor.preprocess

    def preprocess(payload):
        try:
            return decode(payload)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise gr.Error(oversized_upload(exc, max_pixels)) from None

    editor.preprocess = preprocess
    return editor


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
        fix_text=False,
        fix_tries=3,
        sampler=rq.DEFAULT_SAMPLER,
    ) -> dict[str, Any]:
        return {
            "engine": engine or None,
            "model": None if model in (None, "", "__default__") else model,
            "image_count": int(image_count),
            "steps": int(steps),
            "sampler": sampler or rq.DEFAULT_SAMPLER,
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
            "self_correct": int(fix_tries) if fix_text else 0,
        }

    def _rows(self, n, values) -> tuple[list, list, list]:
        n = int(n)
        texts_, fonts, colors = values[:MAX_ROWS], values[MAX_ROWS : 2 * MAX_ROWS], values[2 * MAX_ROWS :]
        return list(texts_[:n]), list(fonts[:n]), list(colors[:n])

    # -- the English prompt for the model ------------------------------------------------------
    def translate(self, prompt, n_lines, *line_texts):
        """The Translate button: (English prompt, notes, the new automatic text)."""
        try:
            text, notes = translate_for_ui(
                prompt, list(line_texts[: int(n_lines)]), translation_labels(self.t)
            )
        except WenchuangError as exc:
            raise gr.Error(str(exc)) from None
        return text, notes, text

    def auto_translate(self, prompt, current, last_auto, n_lines, *line_texts):
        """When the prompt is left: fill the English box unless the user has edited it."""
        try:
            out = auto_translation(
                prompt, current, last_auto, list(line_texts[: int(n_lines)]), translation_labels(self.t)
            )
        except WenchuangError:  # e.g. lines that do not match: shown when the user runs the job
            out = None
        return out if out is not None else (gr.update(), gr.update(), gr.update())

    # -- the three design tabs -----------------------------------------------------------------
    def _canvas(self, editor, draw_mode: str, sort: str, *, need_image: bool, regions: bool = True):
        """The editor's value -> (background RGB or None, drawn regions in reading order)."""
        try:
            background, mask = editor_parts(editor)
            if need_image and background is None:
                raise gr.Error(self.t["no_image"])
            return background, regions_from_mask(mask, draw_mode, sort) if regions else []
        except WenchuangError as exc:
            raise gr.Error(str(exc)) from None

    def _design(self, mode: str, request, prompt, prompt_en, editor, draw_mode, n_lines, values):
        """Generate or edit: the prompt, the line rows and the drawn regions become one request.

        Generate draws on a blank canvas whose regions are scaled to the chosen image size; edit
        needs an uploaded image and sends it with the request."""
        rows, params = values[: 3 * MAX_ROWS], values[3 * MAX_ROWS :]
        common = self._common(*params)
        editing = mode == "edit"
        background, regions = self._canvas(editor, draw_mode, common["sort_priority"], need_image=editing)
        if not editing and background is not None and regions:
            canvas_size = (background.shape[1], background.shape[0])
            regions = scale_regions(regions, canvas_size, (common["width"], common["height"]))
        try:
            lines = lines_from_rows(
                *self._rows(n_lines, rows),
                regions,
                prompt or "",
                known_fonts={*available_fonts(), MIMIC_FONT} if editing else set(available_fonts()),
                image_size=(background.shape[1], background.shape[0]) if editing else None,
            )
        except WenchuangError as exc:
            raise gr.Error(str(exc)) from None
        data = {
            **common,
            "prompt": prompt or "",
            "translated_prompt": translated_field(prompt_en),
            "lines": [ln.to_dict() for ln in lines],
        }
        return self._run(request, data, mode, image=background if editing else None)

    def generate(self, request: gr.Request, prompt, prompt_en, editor, draw_mode, n_lines, *values):
        return self._design("generate", request, prompt, prompt_en, editor, draw_mode, n_lines, values)

    def edit(self, request: gr.Request, prompt, prompt_en, editor, draw_mode, n_lines, *values):
        return self._design("edit", request, prompt, prompt_en, editor, draw_mode, n_lines, values)

    def remove(self, request: gr.Request, editor, draw_mode, remove_all, *params):
        common = self._common(*params)
        background, regions = self._canvas(
            editor, draw_mode, common["sort_priority"], need_image=True, regions=not remove_all
        )
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
            (str(self.studio.gallery.image_path(m["id"])), gallery_caption(m)) for m in items
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

    # -- products ------------------------------------------------------------------------------
    def product_sources(self):
        """The gallery images to choose from (newest first) and the products."""
        items = self.studio.gallery.list(limit=60)
        ids = [m["id"] for m in items]
        return gr.Dropdown(choices=ids, value=ids[0] if ids else None)

    def make_product(self, request: gr.Request, entry_id: str | None, product: str, fmt: str, dpi, fit: str):
        """A mock-up and a print file of a gallery image, kept with the entry (studio.products)."""
        from wenchuang.studio import products as studio_products

        studio, t = self.studio, self.t
        if not entry_id:
            raise gr.Error(t["p_none"])
        client = _client(request)
        if studio.job_limiter.check(client) > 0:
            studio.violations.record(client, "rate")
            raise gr.Error(t["too_fast"])
        try:
            mock = studio_products.mockup_entry(studio.gallery, product, {"id": entry_id, "fit": fit})
            printed = studio_products.export_entry(
                studio.gallery, product, {"id": entry_id, "format": fmt, "dpi": int(dpi), "fit": fit}
            )
        except KeyError:
            raise gr.Error(t["p_none"]) from None
        except WenchuangError as exc:
            raise gr.Error(str(exc)) from None
        exports = studio.gallery.root / "exports"
        warnings = printed["warnings"]
        notes = "\n".join(f"- ⚠ {w}" for w in warnings) if warnings else f"✅ {t['p_ok']}"
        size = f"{printed['pixels'][0]} × {printed['pixels'][1]} px, {printed['dpi']} DPI"
        return (
            str(exports / mock["file"]),
            f"**{printed['file']}** ({size})\n\n{notes}",
            str(exports / printed["file"]),
        )

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
                editing = prefix == "e"
                font_boxes.append(
                    gr.Dropdown(
                        # "no font": anytext2 gets no font hint (its own lettering), classic its default
                        # font; edits with anytext2 can imitate the lettering already in the line's region
                        # (`mimic`) or in a region typed as mimic:x1,y1,x2,y2
                        [(t["no_font"], NO_FONT), *fonts, *([MIMIC_FONT] if editing else [])],
                        value=DEFAULT_FONT if DEFAULT_FONT in fonts else NO_FONT,
                        label=t["font"],
                        info=t["font_mimic_info"] if editing and i == 0 else None,
                        scale=2,
                        allow_custom_value=editing,
                        elem_id=f"{prefix}-font-{i}",
                    )
                )
                # no colour = the engine picks an ink that contrasts with the background
                colors.append(gr.ColorPicker(value=None, label=t["color"], scale=1, elem_id=f"{prefix}-color-{i}"))
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
        return photo_editor(
            self.studio.config.max_upload_pixels,
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

    # -- the page: shared settings, then one builder per tab -------------------------------------
    def _settings(self) -> tuple[list, Any, Any, Any]:
        """Engine and model pickers, the engines table and the shared parameter panel.

        Returns (the parameter components in `_common`'s order, width, height, engines table)."""
        t, studio = self.t, self.studio
        # engine readiness is looked up when the page loads, not here: server start stays fast
        engine_choices = [(t["auto_engine"], "")] + [(n, n) for n in registry.engine_names()]
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
        with gr.Row():
            fix_text = gr.Checkbox(True, label=t["self_correct"], elem_id="self-correct", scale=2)
            fix_tries = gr.Slider(
                1, rq.MAX_SELF_CORRECT, value=3, step=1, label=t["self_correct_n"], elem_id="self-correct-n", scale=1
            )

        with gr.Accordion(t["params"], open=False, elem_id="params"):
            with gr.Row():
                image_count = gr.Slider(
                    1, rq.MAX_IMAGE_COUNT, value=4, step=1, label=t["image_count"], elem_id="image-count"
                )
                sampler = gr.Dropdown(
                    list(rq.SAMPLERS), value=rq.DEFAULT_SAMPLER, label=t["sampler"], elem_id="sampler"
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
        sampler.change(rq.default_steps, sampler, steps)  # each sampler starts at its own step count
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
            fix_text,
            fix_tries,
            sampler,
        ]
        return params, width, height, engines_md

    def _draw_choices(self) -> list[tuple[str, str]]:
        return [(self.t["rectangles"], DRAW_RECTANGLES), (self.t["strokes"], DRAW_STROKES)]

    def _generate_tab(self, params: list, width, height):
        """Prompt, English prompt, line rows, a blank canvas to draw on, results and the examples.
        Returns the examples gallery (filled when the page loads)."""
        t = self.t
        with gr.Tab(t["tab_generate"], id="generate"):
            with gr.Row():
                with gr.Column(scale=1):
                    prompt = gr.Textbox(
                        label=t["prompt"],
                        placeholder=t["prompt_ph"],
                        lines=2,
                        max_length=rq.MAX_PROMPT_CHARS,
                        elem_id="g-prompt",
                    )
                    english, translate, notes, last = self._english_prompt("g")
                    n, line_texts, fonts, colors = self._line_rows("g")
                    mode = gr.Radio(self._draw_choices(), value=DRAW_RECTANGLES, label=t["draw_mode"])
                    editor = self._editor(t["canvas"], True, "g-canvas")
                    with gr.Row():
                        reset = gr.Button(t["reset_canvas"], size="sm")
                        run = gr.Button(t["run_generate"], variant="primary", elem_id="g-run")
                with gr.Column(scale=1):
                    out = self._results("g")
            examples = gr.Gallery(
                label=t["examples"],
                columns=6,
                height=420,
                object_fit="contain",
                allow_preview=False,
                elem_id="examples",
            )
        reset.click(lambda w, h: blank_canvas(int(w), int(h)), [width, height], editor)
        for side in (width, height):
            side.release(lambda w, h: blank_canvas(int(w), int(h)), [width, height], editor)
        self._wire_translation(prompt, english, translate, notes, last, n, line_texts)
        inputs = [prompt, english, editor, mode, n, *line_texts, *fonts, *colors, *params]
        run.click(self.generate, inputs, out, concurrency_limit=4)
        example_outputs = [
            prompt,
            editor,
            mode,
            n,
            width,
            height,
            *line_texts,
            *fonts,
            *colors,
            english,
            notes,
        ]
        examples.select(self.load_example, None, example_outputs)
        return examples

    def _edit_tab(self, params: list) -> None:
        """Prompt, English prompt, the image to paint over, line rows and results."""
        t = self.t
        with gr.Tab(t["tab_edit"], id="edit"):
            with gr.Row():
                with gr.Column(scale=1):
                    prompt = gr.Textbox(label=t["prompt"], lines=2, max_length=rq.MAX_PROMPT_CHARS)
                    english, translate, notes, last = self._english_prompt("e")
                    editor = self._editor(t["canvas_edit"], False, "e-canvas")
                    mode = gr.Radio(self._draw_choices(), value=DRAW_RECTANGLES, label=t["draw_mode"])
                    n, line_texts, fonts, colors = self._line_rows("e")
                    run = gr.Button(t["run_edit"], variant="primary", elem_id="e-run")
                with gr.Column(scale=1):
                    out = self._results("e")
        self._wire_translation(prompt, english, translate, notes, last, n, line_texts)
        inputs = [prompt, english, editor, mode, n, *line_texts, *fonts, *colors, *params]
        run.click(self.edit, inputs, out, concurrency_limit=4)

    def _remove_tab(self, params: list) -> None:
        """The image to paint over (or: remove all detected text) and results."""
        t = self.t
        with gr.Tab(t["tab_remove"], id="remove"):
            with gr.Row():
                with gr.Column(scale=1):
                    editor = self._editor(t["canvas_remove"], False, "r-canvas")
                    mode = gr.Radio(self._draw_choices(), value=DRAW_STROKES, label=t["draw_mode"])
                    remove_all = gr.Checkbox(False, label=t["remove_all"], elem_id="r-all")
                    run = gr.Button(t["run_remove"], variant="primary", elem_id="r-run")
                with gr.Column(scale=1):
                    out = self._results("r")
        run.click(self.remove, [editor, mode, remove_all, *params], out, concurrency_limit=4)

    def _gallery_tab(self) -> None:
        """History (newest first), details, downloads and re-running a saved result."""
        t = self.t
        with gr.Tab(t["tab_gallery"], id="gallery") as tab:
            ids = gr.State([])
            selected = gr.State(None)
            with gr.Row():
                refresh = gr.Button(t["refresh"], size="sm", elem_id="h-refresh")
                zip_button = gr.Button(t["download_zip"], size="sm")
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
                    rerun = gr.Button(t["rerun"], variant="primary")
            rerun_out = self._results("h")
        refresh.click(self.history, None, [history, ids])
        tab.select(self.history, None, [history, ids])
        history.select(self.select, ids, [selected, details, one_file])
        rerun.click(self.rerun, selected, rerun_out, concurrency_limit=4)
        zip_button.click(self.zip_shown, ids, zip_file)

    def _products_tab(self) -> None:
        """A gallery image on a product: the mock-up, the warnings about its text, the print file."""
        from wenchuang.products import load_products

        t = self.t
        products = [
            (f"{p.label_zh} {p.label_en} ({p.width_mm:g} × {p.height_mm:g} mm)", p.name)
            for p in load_products().values()
        ]
        with gr.Tab(t["tab_products"], id="products") as tab:
            with gr.Row():
                with gr.Column(scale=1):
                    entry = gr.Dropdown([], label=t["p_image"], elem_id="p-image")
                    product = gr.Dropdown(
                        products, value=products[0][1], label=t["p_product"], elem_id="p-product"
                    )
                    fmt = gr.Radio(
                        ["pdf", "png", "tiff"], value="pdf", label=t["p_format"], elem_id="p-format"
                    )
                    dpi = gr.Slider(72, 600, value=300, step=1, label=t["p_dpi"], elem_id="p-dpi")
                    fit = gr.Radio(["cover", "contain"], value="cover", label=t["p_fit"], elem_id="p-fit")
                    run = gr.Button(t["p_run"], variant="primary", elem_id="p-run")
                with gr.Column(scale=2):
                    mockup = gr.Image(label=t["p_mockup"], interactive=False, elem_id="p-mockup")
                    notes = gr.Markdown(elem_id="p-warnings")
                    file = gr.File(label=t["p_file"], interactive=False, height=80, elem_id="p-file")
        tab.select(self.product_sources, None, entry)
        run.click(
            self.make_product, [entry, product, fmt, dpi, fit], [mockup, notes, file], concurrency_limit=2
        )

    def build(self) -> gr.Blocks:
        t, studio = self.t, self.studio
        # delete_cache: every hour, Gradio removes its temporary files older than a day
        with gr.Blocks(title="Wenchuang Studio", analytics_enabled=False, delete_cache=(3600, 86400)) as demo:
            with gr.Row():
                gr.Markdown(f"## {t['title']}\n{t['local']}  ·  {t['switch']}")
            params, width, height, engines_md = self._settings()
            with gr.Tabs():
                examples = self._generate_tab(params, width, height)
                self._edit_tab(params)
                self._remove_tab(params)
                self._gallery_tab()
                self._products_tab()
            demo.load(self.example_previews, None, examples)
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

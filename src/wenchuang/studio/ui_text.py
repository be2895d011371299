"""The studio UI's words in Chinese and English: one table, one row per label.

`texts(lang)` gives the labels of one language (``zh`` or ``en``) by key; the UI (`ui.py`) and the
tables it renders (`ui_logic.ocr_markdown`, the translation notes) read them from there.
"""

from __future__ import annotations

LANGS = ("zh", "en")

# key: (Chinese, English)
STRINGS: dict[str, tuple[str, str]] = {
    "title": (
        "文创工作室 · 文字精准的文创图像",
        "Wenchuang Studio · cultural-creative images with exact text",
    ),
    "switch": ("[English](/en/)", "[中文](/zh/)"),
    "local": ("一切都在本机运行，不上传任何数据。", "Everything runs on this machine; nothing is uploaded."),
    "engine": ("引擎", "Engine"),
    "auto_engine": (
        "自动（优先用权重已就绪的 AnyText2，其次 AnyText，否则 classic）",
        "auto (AnyText2 when its weights are ready, else AnyText, else classic)",
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
    "n_lines": ("行数", "Number of lines"),
    "line_text": ("第 {} 行", "Line {}"),
    "font": ("字体", "Font"),
    "no_font": ("不指定字体", "no font"),
    "font_mimic_info": (
        "anytext2 编辑：选 mimic 模仿本行区域里原有的字形，或输入 mimic:x1,y1,x2,y2 模仿图中该区域（像素坐标）的字形",
        "anytext2 edits: mimic imitates the lettering already in the line's region; type mimic:x1,y1,x2,y2 "
        "to imitate the lettering inside that region of the picture (pixels)",
    ),
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
    "params": ("参数", "Parameters"),
    "image_count": ("图片数量", "Image count"),
    "steps": ("步数", "Steps"),
    "sampler": ("采样器", "Sampler"),
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
    "self_correct": (
        "自动修正写错的文字（OCR 逐行检查，只重写错的行）",
        "Fix wrong text automatically (OCR checks each line; only wrong lines are redone)",
    ),
    "self_correct_n": ("最多尝试次数", "Up to N tries"),
    "tries": ("尝试", "Tries"),
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
    "tab_products": ("文创产品", "Products"),
    "p_image": ("图库中的图片", "Gallery image"),
    "p_product": ("产品", "Product"),
    "p_format": ("印刷文件格式", "Print file format"),
    "p_dpi": ("分辨率 (DPI)", "Resolution (DPI)"),
    "p_fit": ("铺满裁切 (cover) 或完整放入 (contain)", "Fill and crop (cover) or fit inside (contain)"),
    "p_run": ("生成样机与印刷文件", "Make mock-up and print file"),
    "p_mockup": ("样机效果图", "Mock-up"),
    "p_file": ("印刷文件（含出血）", "Print file (with bleed)"),
    "p_ok": ("文字都在安全区内。", "Every text line is inside the safe area."),
    "p_none": ("图库还是空的：先生成一张图。", "The gallery is empty: make an image first."),
    "ready": ("就绪", "ready"),
    "not_ready": ("未就绪", "not ready"),
}


def texts(lang: str) -> dict[str, str]:
    """Every label of `lang` (``zh`` or ``en``) by key."""
    if lang not in LANGS:
        raise ValueError(f"unknown UI language {lang!r}; one of {LANGS}")
    index = LANGS.index(lang)
    return {key: pair[index] for key, pair in STRINGS.items()}


def translation_labels(t: dict[str, str]) -> dict[str, str]:
    """The labels `ui_logic.translate_for_ui` writes its notes with."""
    return {"model": t["tr_model"], "glossary_only": t["tr_glossary_only"], "terms": t["tr_terms"]}

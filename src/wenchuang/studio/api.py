"""The HTTP API (FastAPI) with the Gradio UI mounted at ``/``.

Routes (OpenAPI docs at ``/docs``):
- ``POST /api/generate``, ``POST /api/edit``: JSON mirroring DesignRequest (+ ``engine``, ``model``,
  base64 ``image``/``mask``), or multipart with a ``request`` JSON field and ``image``/``mask`` files.
  ``?wait=true`` answers with the finished job, otherwise 202 with the job id. ``translated_prompt``
  is the English prompt for model engines (AnyText), used verbatim; without it they translate.
  ``self_correct`` (0-10 rounds, default 0) re-edits each line the OCR reads wrong; each image of the
  answer then carries ``self_correct``: per line the attempts (attempt, seed, read, passed).
- ``POST /api/translate``: ``{"prompt": ..., "lines": [...]?}`` -> the English prompt for the model.
- ``GET /api/jobs/{id}``; ``GET /api/engines``;
- ``GET /api/gallery``, ``GET /api/gallery/{id}``, ``GET /api/gallery/{id}/image``,
  ``POST /api/gallery/{id}/rerun``, ``GET /api/gallery.zip?ids=a,b``.
- ``GET /api/products``; ``POST /api/products/{name}/export`` (PDF/PNG/TIFF print file) and
  ``POST /api/products/{name}/mockup`` of a gallery image, ``{"id": ...}``; both are kept with the
  entry (``exports`` in its metadata), downloaded from ``GET /api/gallery/{id}/exports/{file}``.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response

from wenchuang import __version__
from wenchuang.errors import ImageError, ImageTooLargeError, RequestError, WenchuangError
from wenchuang.layout.fonts import available_fonts
from wenchuang.request import MAX_CHARS_PER_LINE, MAX_LINES, MAX_PROMPT_CHARS
from wenchuang.studio.apidocs import render_docs
from wenchuang.studio.config import StudioConfig
from wenchuang.studio.gallery import ENTRY_ID, check_entry_id
from wenchuang.studio.jobs import JOB_ID_LENGTH, Job, QueueFull
from wenchuang.studio.middleware import SecurityMiddleware
from wenchuang.studio.service import Studio

JOB_ID = re.compile(rf"^[0-9a-f]{{{JOB_ID_LENGTH}}}$")
_REQUEST_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "example": {
                        "engine": "classic",
                        "prompt": "a bronze mask mouse pad",
                        "width": 512,
                        "height": 512,
                        "seed": 7,
                        "self_correct": 3,
                        "lines": [
                            {
                                "text": "三星堆",
                                "polygon": [[96, 200], [416, 200], [416, 300], [96, 300]],
                                "color": "#c8a050",
                            }
                        ],
                    },
                }
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "request": {"type": "string", "description": "the JSON fields"},
                        "image": {"type": "string", "format": "binary"},
                        "mask": {"type": "string", "format": "binary"},
                    },
                }
            },
        },
    }
}


def _client(request: Request) -> str:
    return request.scope.get("state", {}).get("wenchuang_client") or (
        request.client.host if request.client else "unknown"
    )


def _error(status: int, message: str, field: str = "", headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": message}
    if field:
        body["field"] = field
    return JSONResponse(body, status_code=status, headers=headers)


_TRANSLATE_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["prompt"],
                    "properties": {
                        "prompt": {"type": "string", "maxLength": MAX_PROMPT_CHARS},
                        "lines": {
                            "type": "array",
                            "items": {"type": "string", "maxLength": MAX_CHARS_PER_LINE},
                            "maxItems": MAX_LINES,
                            "description": "explicit text lines (else the quoted texts of the prompt)",
                        },
                    },
                    "example": {"prompt": "太阳神鸟金饰上写着“天路”"},
                }
            }
        },
    }
}


def _json_body_doc(properties: dict[str, Any], example: dict[str, Any]) -> dict[str, Any]:
    schema = {"type": "object", "required": ["id"], "properties": properties, "example": example}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


_GALLERY_ID = {"type": "string", "description": "a gallery image id (GET /api/gallery)"}
_FIT = {"type": "string", "enum": ["cover", "contain"], "default": "cover"}
_PRODUCT_EXPORT_DOC = _json_body_doc(
    {
        "id": _GALLERY_ID,
        "format": {"type": "string", "enum": ["pdf", "png", "tiff"], "default": "pdf"},
        "dpi": {
            "type": "integer",
            "minimum": 10,
            "maximum": 1200,
            "description": "default: the product's (300)",
        },
        "bleed_mm": {
            "type": "number",
            "minimum": 0,
            "maximum": 20,
            "description": "default: the product's (3)",
        },
        "fit": _FIT,
        "crop_marks": {"type": "boolean", "default": False},
    },
    {"id": "20250101-120000-0123abcd-0", "format": "pdf", "dpi": 300},
)
_PRODUCT_MOCKUP_DOC = _json_body_doc(
    {
        "id": _GALLERY_ID,
        "width": {"type": "integer", "minimum": 1024, "maximum": 4096, "default": 1280},
        "fit": _FIT,
    },
    {"id": "20250101-120000-0123abcd-0"},
)


def translate_body(data: Any) -> tuple[str, list[str] | None]:
    """Check the JSON of ``POST /api/translate``: (prompt, explicit lines or None)."""
    if not isinstance(data, dict):
        raise RequestError("request", "must be a JSON object")
    unknown = set(data) - {"prompt", "lines"}
    if unknown:
        raise RequestError("request", f"unknown field(s) {sorted(unknown)}")
    prompt = data.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > MAX_PROMPT_CHARS:
        raise RequestError("prompt", f"must be a non-empty string of at most {MAX_PROMPT_CHARS} characters")
    lines = data.get("lines")
    if lines is None:
        return prompt, None
    if (
        not isinstance(lines, list)
        or len(lines) > MAX_LINES
        or not all(isinstance(x, str) and 0 < len(x) <= MAX_CHARS_PER_LINE for x in lines)
    ):
        raise RequestError(
            "lines", f"must be a list of at most {MAX_LINES} strings of 1-{MAX_CHARS_PER_LINE} characters"
        )
    return prompt, lines or None


def create_app(
    config: StudioConfig | None = None, studio: Studio | None = None, ui: bool | None = None
) -> FastAPI:
    """The whole server: API + (optionally) the Gradio UI, behind `SecurityMiddleware`."""
    studio = studio or Studio(config)
    cfg = studio.config
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    app = FastAPI(
        title="Wenchuang Studio API",
        version=__version__,
        description="Images with exactly-right text. Local-first; see docs/studio.md.",
        docs_url=None,  # FastAPI's Swagger UI and ReDoc load scripts from a CDN: served locally instead
        redoc_url=None,
    )

    @app.get("/docs", include_in_schema=False)
    def api_docs():
        return HTMLResponse(render_docs(app.openapi()))

    app.state.studio = studio

    @app.exception_handler(RequestError)
    async def _request_error(request: Request, exc: RequestError):
        return _error(422, str(exc), exc.field)

    @app.exception_handler(RequestValidationError)
    async def _query_error(request: Request, exc: RequestValidationError):
        # FastAPI's own checks (query and path parameters) answer in the documented shape too
        first = (exc.errors() or [{}])[0]
        where = [str(part) for part in first.get("loc", ()) if part not in ("query", "path", "body")]
        field = ".".join(where)
        return _error(422, f"{field}: {first.get('msg', 'invalid value')}" if field else "invalid request", field)

    @app.exception_handler(ImageError)
    async def _image_error(request: Request, exc: ImageError):
        studio.log.write("refused_upload", _client(request), request.url.path, str(exc))
        studio.violations.record(_client(request), "upload")
        label = str(exc).split(":", 1)[0]
        field = label if label in ("image", "mask") else ""
        return _error(413 if isinstance(exc, ImageTooLargeError) else 400, str(exc), field)

    @app.exception_handler(WenchuangError)
    async def _user_error(request: Request, exc: WenchuangError):
        return _error(422, str(exc))

    async def _read_body(request: Request) -> tuple[dict[str, Any], Any, Any]:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype == "multipart/form-data":
            async with request.form(max_files=2, max_fields=4, max_part_size=cfg.max_upload_bytes) as form:
                try:
                    data = json.loads(form.get("request") or "{}")
                except ValueError:
                    raise RequestError("request", "the 'request' field must be JSON") from None
                files = {}
                for name in ("image", "mask"):
                    item = form.get(name)
                    if item is not None and hasattr(item, "read"):
                        files[name] = await item.read()
                    elif isinstance(item, str) and item:
                        files[name] = item  # base64 in a plain field
            return data, files.get("image"), files.get("mask")
        if ctype not in ("application/json", ""):
            raise RequestError("request", "send application/json or multipart/form-data")
        try:
            data = json.loads(await request.body() or b"{}")
        except ValueError:
            raise RequestError("request", "the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise RequestError("request", "must be a JSON object")
        return data, data.get("image"), data.get("mask")

    async def _job_response(job: Job, wait: bool) -> JSONResponse:
        if wait:
            if not await studio.queue.wait_async(job, cfg.wait_timeout_s):
                return JSONResponse(job.to_dict(), status_code=202)
            if job.status == "failed":
                body = job.to_dict()
                status = 500 if job.error and job.error.get("type") == "InternalError" else 422
                return JSONResponse(body, status_code=status)
            return JSONResponse(job.to_dict(), status_code=200)
        return JSONResponse(job.to_dict(), status_code=202, headers={"Location": f"/api/jobs/{job.id}"})

    def _check_job_rate(client: str) -> JSONResponse | None:
        wait = studio.job_limiter.check(client)
        if wait > 0:
            studio.log.write("refused_rate", client, "job", "too many jobs")
            studio.violations.record(client, "rate")
            return _error(
                429, "too many jobs; slow down", headers={"Retry-After": str(max(1, int(wait + 0.999)))}
            )
        return None

    def _submit(kind: str, client: str, req, engine: str, model) -> Job | JSONResponse:
        try:
            return studio.submit(kind, client, req, engine, model, source="api")
        except QueueFull as exc:
            studio.log.write("queue_full", client, kind, str(exc))
            return _error(
                429, "the job queue is full; try again later", headers={"Retry-After": str(exc.retry_after)}
            )

    async def _design(request: Request, mode: str, wait: bool) -> Response:
        client = _client(request)
        refused = _check_job_rate(client)
        if refused:
            return refused
        data, image_raw, mask_raw = await _read_body(request)

        def prepare():  # decoding and validation are CPU work: off the event loop
            image = studio.decode_upload(image_raw, "image")
            mask = studio.decode_upload(mask_raw, "mask")
            return studio.build_request(data, mode, image=image, mask=mask)

        req, engine, model = await run_in_threadpool(prepare)
        job = _submit(mode, client, req, engine, model)
        return job if isinstance(job, JSONResponse) else await _job_response(job, wait)

    @app.post("/api/generate", openapi_extra=_REQUEST_BODY_DOC, tags=["design"])
    async def generate(
        request: Request, wait: bool = Query(False, description="answer when the job is done")
    ):
        """Make new images (optionally over a base `image`)."""
        return await _design(request, "generate", wait)

    @app.post("/api/edit", openapi_extra=_REQUEST_BODY_DOC, tags=["design"])
    async def edit(request: Request, wait: bool = Query(False, description="answer when the job is done")):
        """Edit or remove text in `image`: new `lines` with polygons, `mask`, `remove_regions`,
        `remove_all_text`."""
        return await _design(request, "edit", wait)

    @app.post("/api/translate", openapi_extra=_TRANSLATE_DOC, tags=["design"])
    async def translate(request: Request):
        """The English prompt for model engines (AnyText reads English only): the scene translated
        zh→en with the cultural-heritage glossary, one `*` per text line; the quoted lines are never
        translated. Edit `text` and send it back as `translated_prompt`."""
        client = _client(request)
        refused = _check_job_rate(client)  # a translation model is real CPU work, like a job
        if refused:
            return refused
        data, _, _ = await _read_body(request)
        prompt, lines = translate_body(data)

        def work():
            from wenchuang.prompts import prompt_for_model

            parsed, translation = prompt_for_model(prompt, lines)
            return {
                **translation.to_dict(),
                "prompt_with_placeholders": parsed.prompt_with_placeholders,
                "lines": list(parsed.lines),
                "parse_notes": list(parsed.notes),
            }

        return await run_in_threadpool(work)

    @app.get("/api/jobs/{job_id}", tags=["jobs"])
    async def get_job(job_id: str):
        job = studio.queue.get(job_id) if JOB_ID.match(job_id) else None
        if job is None:
            return _error(404, "no such job")
        return job.to_dict()

    @app.get("/api/engines", tags=["engines"])
    async def engines():
        """Engines (ready or not, how to get AnyText's or AnyText2's weights); models, fonts, queue."""
        return {
            "engines": studio.engines(),
            "default": studio.default_engine(),
            "models": studio.models(),
            "models_folder": str(cfg.models_dir),
            "fonts": sorted(available_fonts()),
            "queue": studio.queue.stats(),
        }

    @app.get("/api/gallery", tags=["gallery"])
    def gallery(limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0)):
        return {"items": studio.gallery.list(limit, offset)}

    @app.get("/api/gallery.zip", tags=["gallery"])
    def gallery_zip(request: Request, ids: str = Query(..., max_length=200 * 32)):
        id_list = [x for x in ids.split(",") if x]
        if not all(ENTRY_ID.match(x) for x in id_list):
            studio.violations.record(_client(request), "path")
            return _error(404, "no such image")
        try:
            data = studio.gallery.zip_bytes(id_list)
        except KeyError:
            return _error(404, "no such image")
        return Response(
            data,
            media_type="application/zip",
            headers={"Content-Disposition": 'attachment; filename="wenchuang-gallery.zip"'},
        )

    def _entry_or_404(request: Request, entry_id: str) -> str | None:
        try:
            return check_entry_id(entry_id)
        except RequestError:
            studio.log.write("refused_path", _client(request), request.url.path, "bad gallery id")
            studio.violations.record(_client(request), "path")
            return None

    @app.get("/api/gallery/{entry_id}", tags=["gallery"])
    def gallery_entry(request: Request, entry_id: str):
        if _entry_or_404(request, entry_id) is None:
            return _error(404, "no such image")
        try:
            return studio.gallery.metadata(entry_id)
        except KeyError:
            return _error(404, "no such image")

    @app.get("/api/gallery/{entry_id}/image", tags=["gallery"])
    def gallery_image(request: Request, entry_id: str, download: bool = False):
        if _entry_or_404(request, entry_id) is None:
            return _error(404, "no such image")
        try:
            path = studio.gallery.image_path(entry_id)
        except KeyError:
            return _error(404, "no such image")
        return FileResponse(path, media_type="image/png", filename=f"{entry_id}.png" if download else None)

    @app.post("/api/gallery/{entry_id}/rerun", tags=["gallery"])
    async def gallery_rerun(request: Request, entry_id: str, wait: bool = Query(False)):
        """Run the request that made this image again, with its seed (same settings, same result)."""
        if _entry_or_404(request, entry_id) is None:
            return _error(404, "no such image")
        client = _client(request)
        refused = _check_job_rate(client)
        if refused:
            return refused
        try:
            req, engine, model = studio.gallery.rerun_request(entry_id)
        except KeyError:
            return _error(404, "no such image")
        req.validate()
        job = _submit(req.mode, client, req, engine, model)
        return job if isinstance(job, JSONResponse) else await _job_response(job, wait)

    @app.get("/api/products", tags=["products"])
    def products():
        """The products (built-in + the data folder's products.toml): sizes, bleed, safe margin, shape."""
        from wenchuang.studio.products import product_list

        return {"items": product_list()}

    async def _product_work(request: Request, name: str, kind: str) -> Response:
        from wenchuang.studio import products as studio_products

        client = _client(request)
        refused = _check_job_rate(client)  # a 300 DPI poster is seconds of CPU: rate it like a job
        if refused:
            return refused
        data, _, _ = await _read_body(request)
        work = studio_products.export_entry if kind == "export" else studio_products.mockup_entry
        if isinstance(data, dict) and isinstance(data.get("id"), str) and not ENTRY_ID.match(data["id"]):
            studio.violations.record(client, "path")
            return _error(404, "no such image")
        try:
            record = await run_in_threadpool(work, studio.gallery, name, data)
        except KeyError:
            return _error(404, "no such image")
        entry_id = data["id"]
        return {**record, "url": f"/api/gallery/{entry_id}/exports/{record['file']}", "id": entry_id}

    @app.post("/api/products/{name}/export", openapi_extra=_PRODUCT_EXPORT_DOC, tags=["products"])
    async def product_export(request: Request, name: str):
        """A print file of a gallery image on product `name`: PDF (MediaBox/BleedBox/TrimBox, sRGB),
        PNG or TIFF at the product's size plus bleed. Kept with the entry (its `exports`); the answer
        has the `url` to download it and the `warnings` (text lines near or past the cut, low DPI)."""
        return await _product_work(request, name, "export")

    @app.post("/api/products/{name}/mockup", openapi_extra=_PRODUCT_MOCKUP_DOC, tags=["products"])
    async def product_mockup(request: Request, name: str):
        """A photograph-like mock-up (PNG) of a gallery image on product `name`, kept with the entry."""
        return await _product_work(request, name, "mockup")

    @app.get("/api/gallery/{entry_id}/exports/{file}", tags=["gallery"])
    def gallery_export(request: Request, entry_id: str, file: str):
        """Download one of the print files or mock-ups kept with a gallery entry."""
        from wenchuang.studio.products import MEDIA_TYPES, export_path

        if _entry_or_404(request, entry_id) is None:
            return _error(404, "no such file")
        try:
            path = export_path(studio.gallery, entry_id, file)
        except KeyError:
            return _error(404, "no such file")
        return FileResponse(path, media_type=MEDIA_TYPES[path.suffix[1:]], filename=file)

    @app.get("/healthz", include_in_schema=False)
    async def healthz():
        return {"ok": True}

    mount_ui = cfg.ui if ui is None else ui
    if mount_ui:
        from wenchuang.studio.ui import mount_ui as _mount

        app = _mount(app, studio)
    else:

        @app.get("/", include_in_schema=False)
        async def root():
            return RedirectResponse("/docs")

    app.add_middleware(SecurityMiddleware, studio=studio)
    return app

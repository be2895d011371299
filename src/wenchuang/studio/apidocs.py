"""A self-contained API reference page at /docs, rendered from the OpenAPI spec on the server.

FastAPI's own /docs and /redoc load Swagger UI / ReDoc from a CDN; the studio sends nothing off the
machine, so it serves this plain HTML page (no scripts, no external files) and /openapi.json instead.
"""

from __future__ import annotations

import html
import json
from typing import Any


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def render_docs(spec: dict[str, Any]) -> str:
    info = spec.get("info", {})
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{_e(info.get('title', 'API'))}</title>",
        "<style>body{font-family:sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}"
        "h2{border-bottom:1px solid #ddd;padding-bottom:.2em}code,pre{background:#f5f5f5;padding:.1em .3em}"
        "pre{padding:.6em;overflow:auto}.m{font-weight:bold;color:#fff;padding:.1em .4em;border-radius:3px}"
        ".get{background:#2b7bb9}.post{background:#3a9b47}.delete{background:#b93b2b}</style></head><body>",
        f"<h1>{_e(info.get('title', 'API'))} <small>{_e(info.get('version', ''))}</small></h1>",
        f"<p>{_e(info.get('description', ''))}</p>",
        "<p>Machine-readable spec: <a href='/openapi.json'>/openapi.json</a></p>",
    ]
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            parts.append(
                f"<h2><span class='m {_e(method)}'>{_e(method.upper())}</span> <code>{_e(path)}</code></h2>"
            )
            if op.get("summary"):
                parts.append(f"<p><b>{_e(op['summary'])}</b></p>")
            if op.get("description"):
                parts.append(f"<p>{_e(op['description'])}</p>")
            params = op.get("parameters", [])
            if params:
                parts.append("<p>Parameters:</p><ul>")
                for p in params:
                    schema = p.get("schema", {})
                    default = f", default {_e(schema['default'])}" if "default" in schema else ""
                    desc = f" - {_e(p['description'])}" if p.get("description") else ""
                    parts.append(
                        f"<li><code>{_e(p['name'])}</code> ({_e(p.get('in'))}, {_e(schema.get('type', ''))}"
                        f"{default}){desc}</li>"
                    )
                parts.append("</ul>")
            body = op.get("requestBody", {}).get("content", {})
            for ctype, content in body.items():
                example = content.get("schema", {}).get("example")
                parts.append(f"<p>Body: <code>{_e(ctype)}</code></p>")
                if example is not None:
                    parts.append(f"<pre>{_e(json.dumps(example, ensure_ascii=False, indent=1))}</pre>")
                props = content.get("schema", {}).get("properties")
                if props:
                    fields = ", ".join(f"<code>{_e(k)}</code>" for k in props)
                    parts.append(f"<p>Fields: {fields}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)

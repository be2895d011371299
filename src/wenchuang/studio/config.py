"""Settings of one studio server, and where its data lives.

The data folder is ``$WENCHUANG_HOME`` (default ``~/.wenchuang``). Inside it the studio writes only
to fixed sub-folders: ``gallery/`` (results and metadata), ``security/`` (block list, security log)
and reads models only from ``models/`` (safetensors only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from wenchuang.paths import data_home
from wenchuang.request import MAX_INPUT_PIXELS

DEFAULT_PORT = 7860


@dataclass
class StudioConfig:
    """Everything `create_app` needs; the defaults are the safe local set-up."""

    data_dir: Path = field(default_factory=data_home)
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    listen: bool = False  # bind 0.0.0.0 (all interfaces) instead of loopback
    auth_token: str | None = None  # when set, every /api request needs it (Bearer or X-Wenchuang-Token)
    allowed_hosts: tuple[str, ...] = ()  # extra Host names accepted besides localhost names
    trusted_proxies: tuple[str, ...] = ()  # IPs/CIDRs whose X-Forwarded-For is believed
    # rate limiting (token bucket per client)
    rate_per_minute: float = 600.0  # sustained requests per minute per client (the UI alone makes many)
    rate_burst: int = 300  # bucket size
    jobs_per_minute: float = 30.0  # sustained generate/edit submissions per minute per client
    jobs_burst: int = 8
    # automatic temporary bans
    ban_threshold: int = 20  # violations within ban_window_s ...
    ban_window_s: float = 60.0
    ban_duration_s: float = 600.0  # ... ban the client for this long
    ban_loopback: bool = False  # loopback is the user's own browser: rate-limited, never banned
    # job queue
    queue_size: int = 8  # waiting jobs (beyond the ones running)
    workers: int = 1  # jobs run at once (one GPU job at a time)
    wait_timeout_s: float = 300.0  # ?wait=true gives up after this and returns the job id
    job_ttl_s: float = 3600.0  # finished jobs are forgotten after this
    # uploads and request bodies
    max_upload_bytes: int = 40 * 1024 * 1024  # a 50 MP camera JPEG
    max_upload_pixels: int = MAX_INPUT_PIXELS  # 60 MP; edits work reduced and paste back (wenchuang.images)
    max_body_bytes: int = 56 * 1024 * 1024  # the largest upload as base64 in JSON
    # engines
    default_engine: str | None = None  # None: the best ready of anytext2, anytext, classic
    cpu_offload: bool | None = None  # model engines: None = automatic (on for GPUs under 7 GiB)
    dtype: str | None = None  # model engines: None = auto (wenchuang.anytext.precision)
    ui: bool = True  # mount the Gradio UI
    render_examples: bool = True  # render the example previews in the background after start-up

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).expanduser().resolve()
        if self.listen and self.host in ("127.0.0.1", "localhost", "::1"):
            self.host = "0.0.0.0"

    @property
    def gallery_dir(self) -> Path:
        return self.data_dir / "gallery"

    @property
    def security_dir(self) -> Path:
        return self.data_dir / "security"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def blocklist_path(self) -> Path:
        return self.security_dir / "blocklist.json"

    @property
    def security_log_path(self) -> Path:
        return self.security_dir / "security.log"

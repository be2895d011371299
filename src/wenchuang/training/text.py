"""`wenchuang train text`: train AnyText's text ControlNet and text-embedding projection on AnyWord data.

The objective follows the official AnyText training (``T3DataSet`` + ``ControlLDM``):

- data: each AnyWord entry's image is resized to the training resolution; up to ``max_lines`` valid
  lines are chosen (the others, and the invalid ones, become the *invalid mask*); glyph canvases
  (2x), glyph lines (80x512) and position masks are rendered on the fly with
  ``wenchuang.layout.glyphs`` (positions randomly dilated/eroded as the official data set does);
  with probability ``mask_image_prob`` (official 0.5) the sample is an editing sample whose
  masked image hides the text regions plus 0-3 random boxes, otherwise the masked image is empty;
  the caption gets one ``*`` placeholder per line;
- loss: the noise-prediction MSE, zero inside invalid text regions and (optionally) weighted up by
  ``1 + position_weight`` inside the chosen lines' positions, plus the OCR perceptual loss: the
  predicted x0 is decoded, every line is cropped from it and from the real image, and the MSE of
  the recogniser's neck features is added with weight ``ocr_loss_weight`` (official 0.003 in
  ``anytext_sd15_perloss.yaml``), scaled by ᾱ_t (``with_step_weight``) and by the line language
  (``latin_weight`` for Latin lines);
- trained: the text ControlNet (``controlnet``) and the projection (``text_embedding``); the SD
  UNet, VAE, CLIP and the OCR recogniser stay frozen. Optional EMA of the trained weights.

Every random draw of a step comes from ``(seed, step)``, so an interrupted run resumed from its
checkpoint ends exactly where an uninterrupted one does.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from wenchuang.errors import ModelError, WenchuangError
from wenchuang.training import common

PHRASES = (
    ", the text on it reads ",
    ", with the words ",
    ", showing the lines ",
    ", lettered with ",
    ", where it is written ",
)


@dataclass
class TextConfig:
    model: str
    data: list[str]
    output_dir: str
    resolution: int = 512
    batch_size: int = 1
    gradient_accumulation: int = 1
    learning_rate: float = 2e-5
    scale_lr: bool = False  # multiply the learning rate by the effective batch
    lr_scheduler: str = "constant"  # constant | constant_with_warmup | linear | cosine
    lr_warmup_steps: int = 0
    max_steps: int = 1000
    max_lines: int = 5
    max_chars: int = 20
    ocr_loss_weight: float = 0.003
    with_step_weight: bool = True
    latin_weight: float = 1.0
    position_weight: float = 0.0  # extra diffusion-loss weight inside the text positions (0 = official)
    mask_image_prob: float = 0.5
    font: str | None = None
    ema: bool = False
    ema_decay: float = 0.9999
    mixed_precision: str = "no"
    gradient_checkpointing: bool = False  # the ControlNet's and the frozen UNet's blocks
    use_8bit_adam: bool = False
    max_grad_norm: float = 1.0
    checkpoint_steps: int = 500
    checkpoints_total_limit: int | None = 3
    resume: str | None = None
    seed: int = 0
    progress: bool = True


@dataclass
class TextResult:
    steps: int
    final_loss: float
    output: Path
    losses: list[float] = field(default_factory=list)


@dataclass
class TextSample:
    pixels: torch.Tensor  # (3, R, R) in [-1, 1]
    masked: torch.Tensor  # (3, R, R) in [-1, 1], zeros where hidden (or all zeros)
    glyphs: np.ndarray  # (n, 2R, 2R)
    positions: np.ndarray  # (n, R, R)
    gly_lines: list[np.ndarray]  # n x (80, 512)
    inv_mask: np.ndarray  # (R, R)
    caption: str
    texts: list[str]
    languages: list[str]
    boxes: list[tuple[int, int, int, int]]  # per line: x0, y0, x1, y1 (crop of the OCR loss)


def load_anyword_items(paths: list[str]) -> list[tuple[Path, dict]]:
    """(image path, entry) of every entry with at least one valid line, from one or more AnyWord files."""
    from wenchuang.training.anyword import AnyWordHeader, iter_anyword

    items = []
    for path in paths:
        header = AnyWordHeader()
        entries = [
            e for e in iter_anyword(path, header) if any(_valid(a) for a in e.get("annotations") or [])
        ]
        root = Path(header.data_root or Path(path).parent)
        items += [(root / e["img_name"], e) for e in entries]
    if not items:
        raise WenchuangError("no AnyWord entries with valid text lines in " + ", ".join(paths))
    return items


def _valid(annotation: dict) -> bool:
    return bool(annotation.get("polygon")) and annotation.get("valid", True) is not False


def _random_boxes(rng: random.Random, size: int, count: int) -> list[np.ndarray]:
    """Rotated rectangles for editing masks (sizes relative to the image, as the official 512 px ones)."""
    boxes = []
    for _ in range(count):
        x, y = rng.uniform(0, size), rng.uniform(0, size)
        w, h = rng.uniform(16, 256) * size / 512, rng.uniform(16, 96) * size / 512
        angle = rng.uniform(-45, 45)
        boxes.append(cv2.boxPoints(((x + w / 2, y + h / 2), (w, h), angle)))
    return boxes


def _jitter_position(position: np.ndarray, polygon, size: int, rng: random.Random) -> np.ndarray:
    """The official augmentation of position masks: 70 % unchanged, then 10 % dilated, 10 % eroded,
    5 % dilated twice, 5 % eroded twice (no erosion of regions narrower than 20 px at 512)."""
    (_, _), (w, h), _ = cv2.minAreaRect(np.asarray(polygon, np.float32))
    small = min(w, h) < 20 * size / 512
    roll = rng.random()
    kernel = np.ones((3, 3), np.uint8)
    if roll < 0.7:
        return position
    if roll < 0.8:
        return cv2.dilate(position, kernel, iterations=1)
    if roll < 0.9:
        return position if small else cv2.erode(position, kernel, iterations=1)
    if roll < 0.95:
        return cv2.dilate(position, kernel, iterations=2)
    return position if small else cv2.erode(position, kernel, iterations=2)


def build_sample(image_path: Path, entry: dict, cfg: TextConfig, rng: random.Random) -> TextSample:
    from PIL import Image

    from wenchuang.layout.glyphs import draw_glyph_canvas, draw_glyph_line, draw_position

    size = cfg.resolution
    try:
        with Image.open(image_path) as image:
            sx, sy = size / image.width, size / image.height
            image = image.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
    except OSError as exc:
        raise WenchuangError(f"cannot read training image {image_path}: {exc}") from None
    pixels = torch.from_numpy(np.asarray(image, np.float32).transpose(2, 0, 1) / 127.5 - 1.0)

    annotations = [a for a in entry.get("annotations") or [] if a.get("polygon")]
    valid = [a for a in annotations if _valid(a)]
    chosen = sorted(rng.sample(range(len(valid)), min(len(valid), cfg.max_lines)))
    invalid_polys = [a["polygon"] for a in annotations if not _valid(a)]
    invalid_polys += [valid[i]["polygon"] for i in range(len(valid)) if i not in chosen]

    def scaled(poly):
        return [(float(x) * sx, float(y) * sy) for x, y in poly]

    glyphs, positions, lines, texts, languages, boxes = [], [], [], [], [], []
    for i in chosen:
        text = str(valid[i]["text"])[: cfg.max_chars]
        polygon = scaled(valid[i]["polygon"])
        glyphs.append(draw_glyph_canvas(text, polygon, size, size, cfg.font, scale=2))
        positions.append(_jitter_position(draw_position(polygon, size, size), polygon, size, rng))
        lines.append(draw_glyph_line(text, cfg.font))
        texts.append(text)
        languages.append(str(valid[i].get("language", "")))
        xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
        x0, y0 = max(0, int(math.floor(min(xs)))), max(0, int(math.floor(min(ys))))
        x1, y1 = min(size, int(math.ceil(max(xs)))), min(size, int(math.ceil(max(ys))))
        boxes.append((x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)))
    inv_mask = np.zeros((size, size), np.float32)
    for poly in invalid_polys:
        inv_mask = np.maximum(inv_mask, draw_position(scaled(poly), size, size))

    if rng.random() < cfg.mask_image_prob:  # an editing sample: hide the lines and 0-3 random boxes
        hidden = np.zeros((size, size), np.float32)
        for mask in positions + [
            draw_position(b, size, size) for b in _random_boxes(rng, size, rng.randint(0, 3))
        ]:
            hidden = np.maximum(hidden, mask)
        masked = pixels * (1.0 - torch.from_numpy(hidden))[None]
    else:
        masked = torch.zeros_like(pixels)
    caption = str(entry.get("caption", "")).replace("*", " ").strip()
    caption = caption + rng.choice(PHRASES) + " , ".join("*" for _ in texts) + " ."
    zeros = np.zeros((0, size, size), np.float32)
    return TextSample(
        pixels=pixels,
        masked=masked,
        glyphs=np.stack(glyphs) if glyphs else np.zeros((0, 2 * size, 2 * size), np.float32),
        positions=np.stack(positions) if positions else zeros,
        gly_lines=lines,
        inv_mask=inv_mask,
        caption=caption,
        texts=texts,
        languages=languages,
        boxes=boxes,
    )


class TextTrainer:
    def __init__(self, config: TextConfig):
        from diffusers import DDPMScheduler

        from wenchuang.anytext.pipeline import AnyTextPipeline

        self.config = cfg = config
        if cfg.max_steps < 1 or cfg.batch_size < 1 or cfg.gradient_accumulation < 1:
            raise WenchuangError("max_steps, batch_size and gradient_accumulation must be positive")
        if cfg.resolution % 64:
            raise WenchuangError(f"resolution must be a multiple of 64, not {cfg.resolution}")
        self.output = Path(cfg.output_dir)
        self.items = load_anyword_items(list(cfg.data))
        try:
            pipe = AnyTextPipeline.from_pretrained(cfg.model)
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load the AnyText pipeline {cfg.model!r}: {exc}") from None
        if pipe.recognizer is None or pipe.text_embedding is None:
            raise ModelError(f"{cfg.model}: the pipeline has no recognizer/text_embedding to train with")
        self.pipe = pipe
        self.accelerator = common.make_accelerator(cfg.mixed_precision)
        self.device = self.accelerator.device
        self.dtype = common.weight_dtype(cfg.mixed_precision)
        self.noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
        for name in ("unet", "vae", "text_encoder", "recognizer"):
            module = getattr(pipe, name)
            module.requires_grad_(False).eval()
            module.to(self.device) if self.dtype == torch.float32 else module.to(
                self.device, dtype=self.dtype
            )
        self.controlnet, self.text_embedding = pipe.controlnet, pipe.text_embedding
        self.modules = {"controlnet": self.controlnet, "text_embedding": self.text_embedding}
        params = []
        for module in self.modules.values():
            module.requires_grad_(True).train()
            module.to(self.device, dtype=torch.float32)
            params += list(module.parameters())
        self.params = params
        if cfg.gradient_checkpointing:  # the UNet too: the gradient flows through it to the control
            common.enable_gradient_checkpointing(self.controlnet)
            common.enable_gradient_checkpointing(pipe.unet)
        self.rank, self.world = self.accelerator.process_index, self.accelerator.num_processes
        self.effective_batch = common.effective_batch(cfg.batch_size, cfg.gradient_accumulation, self.world)
        self.learning_rate = cfg.learning_rate * (self.effective_batch if cfg.scale_lr else 1)
        optimizer = common.make_optimizer(params, self.learning_rate, cfg.use_8bit_adam, weight_decay=0.0)
        self.optimizer = self.accelerator.prepare(optimizer)
        self.lr_scheduler = common.make_lr_scheduler(
            self.optimizer, cfg.lr_scheduler, cfg.lr_warmup_steps, cfg.max_steps
        )
        self.ema = None
        if cfg.ema:
            from diffusers.training_utils import EMAModel

            self.ema = EMAModel(params, decay=cfg.ema_decay)
        from wenchuang.anytext.tokenizer import placeholder_token_id

        self.star = placeholder_token_id(pipe.tokenizer)
        self.step = 0
        self.losses: list[float] = []

    # ------------------------------------------------------------ loss
    def samples(self, indices: list[int], generator_seed: int | list[int]) -> list[TextSample]:
        """The samples of `indices`, rendered with one random.Random per sample (a list of seeds) or
        one shared by all (one seed)."""
        if isinstance(generator_seed, list):
            rngs = [random.Random(s) for s in generator_seed]
        else:
            rngs = [random.Random(generator_seed)] * len(indices)
        return [build_sample(*self.items[i], self.config, rng) for i, rng in zip(indices, rngs)]

    def context(self, samples: list[TextSample]) -> torch.Tensor:
        from wenchuang.anytext.text_embedding import embed_glyph_lines, encode_prompt

        embs = [
            embed_glyph_lines(self.pipe.recognizer, self.text_embedding, s.gly_lines) if s.gly_lines else None
            for s in samples
        ]
        return encode_prompt(
            self.pipe.tokenizer, self.pipe.text_encoder, [s.caption for s in samples], embs, self.star,
            device=self.device,
        )  # fmt: skip

    def loss(
        self,
        samples: list[TextSample],
        generator: torch.Generator | list[torch.Generator],
        parts: dict | None = None,
    ) -> torch.Tensor:
        """The mean loss of `samples`; `generator` is one per sample or one for the batch."""
        cfg, pipe = self.config, self.pipe
        generators = generator if isinstance(generator, list) else [generator] * len(samples)
        n_max = max(1, max(len(s.texts) for s in samples))
        size = cfg.resolution

        def stack(arrays, shape):
            out = np.zeros((len(samples), n_max, *shape), np.float32)
            for i, a in enumerate(arrays):
                out[i, : len(a)] = a
            return torch.from_numpy(out).to(self.device)

        glyphs = stack([s.glyphs for s in samples], (2 * size, 2 * size))
        positions = stack([s.positions for s in samples], (size, size))
        pixels = torch.stack([s.pixels for s in samples]).to(self.device)
        masked = torch.stack([s.masked for s in samples]).to(self.device)
        scaling = pipe.vae.config.scaling_factor
        with torch.no_grad():
            posterior = pipe.vae.encode(pixels.to(self.dtype)).latent_dist
            eps = common.randn_per_sample(posterior.mean.shape[1:], generators)
            latents = ((posterior.mean + posterior.std * eps.to(self.device, posterior.mean.dtype)) * scaling).float()
            masked_post = pipe.vae.encode(masked.to(self.dtype)).latent_dist
            eps = common.randn_per_sample(masked_post.mean.shape[1:], generators)
            masked_latents = (
                (masked_post.mean + masked_post.std * eps.to(self.device, masked_post.mean.dtype)) * scaling
            ).float()
        noise = common.randn_per_sample(latents.shape[1:], generators).to(self.device)
        timesteps = common.randint_per_sample(self.noise_scheduler.config.num_train_timesteps, generators)
        timesteps = timesteps.to(self.device)
        noisy = self.noise_scheduler.add_noise(latents, noise, timesteps)

        context = self.context(samples)
        with self.accelerator.autocast():
            hint = self.controlnet.encode_hint(glyphs, positions, masked_latents)
            down, mid = self.controlnet(noisy, timesteps, context, guided_hint=hint, return_dict=False)
            pred = pipe.unet(
                noisy.to(self.dtype), timesteps, encoder_hidden_states=context.to(self.dtype),
                down_block_additional_residuals=[d.to(self.dtype) for d in down],
                mid_block_additional_residual=mid.to(self.dtype),
            ).sample.float()  # fmt: skip

        # diffusion loss: zero in invalid text regions, optionally heavier inside the lines
        latent_size = latents.shape[-2:]
        inv = torch.from_numpy(np.stack([s.inv_mask for s in samples]))[:, None].to(self.device)
        weight = 1.0 - F.interpolate(inv, size=latent_size, mode="area").clamp(0, 1)
        if cfg.position_weight:
            hint_map = positions.sum(dim=1, keepdim=True).clamp(0, 1)
            weight = weight * (
                1.0 + cfg.position_weight * F.interpolate(hint_map, size=latent_size, mode="area")
            )
        simple = ((pred - noise) ** 2 * weight).mean(dim=(1, 2, 3))

        ocr = torch.zeros_like(simple)
        if cfg.ocr_loss_weight > 0 and any(s.texts for s in samples):
            ocr = self.ocr_loss(samples, noisy, pred, timesteps, pixels)
            alphas = self.noise_scheduler.alphas_cumprod.to(self.device)[timesteps].float()
            step_weight = alphas if cfg.with_step_weight else torch.ones_like(alphas)
            ocr = ocr * cfg.ocr_loss_weight * step_weight
        if parts is not None:
            parts["simple"], parts["ocr"] = float(simple.detach().mean()), float(ocr.detach().mean())
        return (simple + ocr).mean()

    def ocr_loss(self, samples, noisy, pred, timesteps, pixels) -> torch.Tensor:
        """Per-sample MSE of recogniser neck features between predicted-x0 and real text crops."""
        from wenchuang.anytext.recognizer import prepare_ocr_input

        pipe, cfg = self.pipe, self.config
        alphas = self.noise_scheduler.alphas_cumprod.to(self.device)[timesteps].float().view(-1, 1, 1, 1)
        pred_x0 = (noisy - (1 - alphas).sqrt() * pred) / alphas.sqrt()
        decoded = pipe.vae.decode((pred_x0 / pipe.vae.config.scaling_factor).to(self.dtype)).sample.float()
        decoded = (decoded.clamp(-1, 1) + 1.0) / 2.0  # [0, 1]
        real = (pixels.float() + 1.0) / 2.0
        crops_pred, crops_real, owners, weights = [], [], [], []
        for i, sample in enumerate(samples):
            for (x0, y0, x1, y1), language in zip(sample.boxes, sample.languages):
                crops_pred.append(decoded[i, :, y0:y1, x0:x1])
                crops_real.append(real[i, :, y0:y1, x0:x1])
                owners.append(i)
                weights.append(cfg.latin_weight if language == "Latin" else 1.0)
        height, width = pipe.recognizer.config.image_height, pipe.recognizer.config.image_width
        neck_pred, _ = pipe.recognizer(prepare_ocr_input(crops_pred, height, width).to(self.device))
        with torch.no_grad():
            neck_real, _ = pipe.recognizer(prepare_ocr_input(crops_real, height, width).to(self.device))
        per_line = ((neck_pred.float() - neck_real.float()) ** 2).mean(dim=(1, 2))
        per_line = per_line * torch.tensor(weights, device=self.device)
        owner = torch.tensor(owners, device=self.device)
        out = torch.zeros(len(samples), device=self.device)
        counts = torch.zeros(len(samples), device=self.device)
        out = out.index_add(0, owner, per_line)
        counts = counts.index_add(0, owner, torch.ones_like(per_line))
        return out / counts.clamp(min=1)

    def step_loss(self, micro_step: int) -> torch.Tensor:
        """The loss of this process's share of micro step `micro_step`'s global batch."""
        cfg = self.config
        bs = cfg.batch_size
        indices = common.shard_indices(len(self.items), micro_step, bs, cfg.seed, self.rank, self.world)
        generators = common.sample_generators(cfg.seed, micro_step, self.rank * bs, bs)
        seeds = [int(torch.randint(0, 2**31 - 1, (1,), generator=g)) for g in generators]
        return self.loss(self.samples(indices, seeds), generators)

    @torch.no_grad()
    def eval_loss(self, seed: int = 1234, parts: dict | None = None) -> float:
        """The loss of all items with fixed rendering choices, noise and timesteps."""
        samples = self.samples(list(range(len(self.items))), seed)
        return float(self.loss(samples, torch.Generator("cpu").manual_seed(seed), parts))

    # ------------------------------------------------------------ training
    def resume(self) -> None:
        cfg = self.config
        if not cfg.resume:
            return
        path = common.find_checkpoint(cfg.resume, self.output / "checkpoints")
        if path is None:
            return
        self.step, info, extra = common.load_checkpoint(path, self.modules, self.optimizer, self.lr_scheduler)
        self.losses = list(info.get("losses", []))
        if self.ema is not None:
            if not extra:
                raise WenchuangError(
                    f"{path} has no EMA weights; resume without --ema or from another checkpoint"
                )
            for i, shadow in enumerate(self.ema.shadow_params):
                shadow.copy_(extra[f"ema.{i}"].to(shadow.device, shadow.dtype))
            self.ema.optimization_step = int(info.get("ema_step", self.step))

    def save_checkpoint(self) -> Path:
        extra = None
        info = {"losses": self.losses, "processes": self.world, "effective_batch": self.effective_batch}
        if self.ema is not None:
            extra = {f"ema.{i}": p for i, p in enumerate(self.ema.shadow_params)}
            info["ema_step"] = int(self.ema.optimization_step)
        return common.save_checkpoint(
            self.output / "checkpoints", self.step, self.modules, self.optimizer, extra_state=extra, info=info,
            keep=self.config.checkpoints_total_limit, scheduler=self.lr_scheduler,
        )  # fmt: skip

    def train(self, callback: Callable[[int, float], None] | None = None) -> TextResult:
        """Run to `max_steps` (from a checkpoint when `resume` is set). `callback(step, loss)` runs
        after every optimisation step."""
        self.resume()
        self.output.mkdir(parents=True, exist_ok=True)
        common.run_steps(self, self.params, "train text", callback, ema=self.ema)
        if self.accelerator.is_main_process:
            self.save_output()
        common.wait_for_everyone(self.accelerator)
        return TextResult(self.step, self.losses[-1], self.output, self.losses)

    def save_output(self) -> Path:
        """The AnyText pipeline with the trained (or, with EMA, the averaged) modules."""
        if self.ema is not None:
            self.ema.store(self.params)
            self.ema.copy_to(self.params)
        try:
            for module in self.modules.values():
                module.eval()
            self.pipe.save_pretrained(str(self.output))
        finally:
            if self.ema is not None:
                self.ema.restore(self.params)
        info = {
            "model": self.config.model,
            "steps": self.step,
            "final_loss": self.losses[-1],
            "ema": self.config.ema,
        }
        (self.output / "training_info.json").write_text(json.dumps(info, indent=2))
        return self.output


def train_text(config: TextConfig, callback: Callable[[int, float], None] | None = None) -> TextResult:
    return TextTrainer(config).train(callback)

"""`wenchuang train style`: DreamBooth or LoRA fine-tuning of an SD1.5-layout base on captioned images.

Data: a folder of images, each with an optional kohya-style caption file beside it (``NAME.txt``,
as `wenchuang data prepare` writes them); images without one use the instance prompt. With prior
preservation, class images (generated from the class prompt by the base model when the class folder
holds too few) are trained alongside, their loss weighted by ``prior_loss_weight``.

Output: ``method="dreambooth"`` writes a diffusers StableDiffusionPipeline folder with the tuned UNet
(and text encoder); ``method="lora"`` writes ``pytorch_lora_weights.safetensors`` in diffusers' LoRA
format, loadable with ``pipe.load_lora_weights(OUT)`` or fused by ``wenchuang merge --lora``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from wenchuang.errors import ModelError, WenchuangError
from wenchuang.training import common

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}
UNET_LORA_TARGETS = ["to_k", "to_q", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.0.proj", "ff.net.2"]
UNET_LORA_CONV_TARGETS = ["conv1", "conv2", "conv_shortcut"]  # added with lora_conv=True (LoCon-style)
TEXT_LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj"]


@dataclass
class StyleConfig:
    base: str
    data_dir: str
    output_dir: str
    method: str = "lora"  # "lora" | "dreambooth"
    instance_prompt: str = ""
    class_prompt: str | None = None
    class_dir: str | None = None
    prior_preservation: bool = False
    prior_loss_weight: float = 1.0
    num_class_images: int = 100
    class_inference_steps: int = 25
    train_text_encoder: bool = False
    resolution: int = 512
    random_flip: bool = False
    batch_size: int = 1
    gradient_accumulation: int = 1
    learning_rate: float | None = None  # default: 1e-4 (LoRA) or 2e-6 (DreamBooth)
    scale_lr: bool = False  # multiply the learning rate by the effective batch
    lr_scheduler: str = "constant"  # constant | constant_with_warmup | linear | cosine
    lr_warmup_steps: int = 0
    max_steps: int = 1000
    lora_rank: int = 16
    lora_alpha: float | None = None  # default: the rank
    lora_conv: bool = False  # also adapt the ResNet convolutions
    mixed_precision: str = "no"  # "no" | "fp16" | "bf16"
    gradient_checkpointing: bool = False
    use_8bit_adam: bool = False
    max_grad_norm: float = 1.0
    checkpoint_steps: int = 500
    checkpoints_total_limit: int | None = 3
    resume: str | None = None  # a checkpoint folder or "latest"
    validation_prompt: str | None = None
    validation_steps: int = 200
    num_validation_images: int = 2
    validation_inference_steps: int = 25
    seed: int = 0
    progress: bool = True


@dataclass
class StyleResult:
    steps: int
    final_loss: float
    output: Path
    losses: list[float] = field(default_factory=list)
    validation_images: list[Path] = field(default_factory=list)


def list_captioned_images(folder: Path, default_caption: str) -> list[tuple[Path, str]]:
    """(image, caption) for every image in `folder`; the caption from NAME.txt, else `default_caption`."""
    items = []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()):
        caption_file = path.with_suffix(".txt")
        caption = (
            caption_file.read_text(encoding="utf-8").strip() if caption_file.is_file() else default_caption
        )
        items.append((path, caption))
    return items


def load_sd_components(base: str):
    """tokenizer, text encoder, VAE, UNet and the training noise scheduler of an SD1.5-layout model."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    try:
        tokenizer = CLIPTokenizer.from_pretrained(base, subfolder="tokenizer")
        text_encoder = CLIPTextModel.from_pretrained(base, subfolder="text_encoder")
        vae = AutoencoderKL.from_pretrained(base, subfolder="vae")
        unet = UNet2DConditionModel.from_pretrained(base, subfolder="unet")
        scheduler = DDPMScheduler.from_pretrained(base, subfolder="scheduler")
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load the SD1.5 base {base!r}: {exc}") from None
    return tokenizer, text_encoder, vae, unet, scheduler


def build_sd_pipeline(base: str, tokenizer, text_encoder, vae, unet):
    """A StableDiffusionPipeline around the given modules, with the base's inference scheduler."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    try:
        scheduler = DDIMScheduler.from_pretrained(base, subfolder="scheduler")
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load the scheduler of {base!r}: {exc}") from None
    return StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip


class StyleTrainer:
    """Set up once (`__init__`), then `train()`; `eval_loss()` measures a fixed batch."""

    def __init__(self, config: StyleConfig):

        self.config = cfg = config
        if cfg.method not in ("lora", "dreambooth"):
            raise WenchuangError(f"method must be 'lora' or 'dreambooth', not {cfg.method!r}")
        if cfg.max_steps < 1 or cfg.batch_size < 1 or cfg.gradient_accumulation < 1:
            raise WenchuangError("max_steps, batch_size and gradient_accumulation must be positive")
        self.output = Path(cfg.output_dir)
        data_dir = Path(cfg.data_dir)
        if not data_dir.is_dir():
            raise WenchuangError(f"{data_dir}: not a folder")
        self.items = list_captioned_images(data_dir, cfg.instance_prompt)
        if not self.items:
            raise WenchuangError(f"{data_dir}: no training images")
        uncaptioned = [p.name for p, c in self.items if not c]
        if uncaptioned:
            raise WenchuangError(
                f"{len(uncaptioned)} images have no caption file and no --instance-prompt was given "
                f"(e.g. {uncaptioned[0]})"
            )
        if cfg.prior_preservation and not (cfg.class_prompt and cfg.class_dir):
            raise WenchuangError("prior preservation needs --class-prompt and --class-dir")

        self.accelerator = common.make_accelerator(cfg.mixed_precision)
        torch.manual_seed(cfg.seed)  # LoRA initialisation
        self.device = self.accelerator.device
        self.dtype = common.weight_dtype(cfg.mixed_precision)
        self.tokenizer, self.text_encoder, self.vae, self.unet, self.noise_scheduler = load_sd_components(
            cfg.base
        )
        self.class_items: list[tuple[Path, str]] = []
        if cfg.prior_preservation:
            self.class_items = self._class_images()

        self.vae.requires_grad_(False)
        self.text_encoder.requires_grad_(False)
        self.unet.requires_grad_(cfg.method == "dreambooth")
        if cfg.method == "lora":
            from peft import LoraConfig

            alpha = cfg.lora_alpha or cfg.lora_rank
            targets = UNET_LORA_TARGETS + (UNET_LORA_CONV_TARGETS if cfg.lora_conv else [])
            self.unet.add_adapter(
                LoraConfig(
                    r=cfg.lora_rank, lora_alpha=alpha, init_lora_weights="gaussian", target_modules=targets
                )
            )
            if cfg.train_text_encoder:  # peft directly: transformers' add_adapter wants a newer peft
                from peft import inject_adapter_in_model

                text_config = LoraConfig(
                    r=cfg.lora_rank,
                    lora_alpha=alpha,
                    init_lora_weights="gaussian",
                    target_modules=TEXT_LORA_TARGETS,
                )
                inject_adapter_in_model(text_config, self.text_encoder)
        elif cfg.train_text_encoder:
            self.text_encoder.requires_grad_(True)
        if cfg.gradient_checkpointing:
            common.enable_gradient_checkpointing(self.unet)
            if cfg.train_text_encoder:
                common.enable_gradient_checkpointing(self.text_encoder)

        # frozen weights in the mixed-precision dtype, trained weights in float32
        for module in (self.vae, self.unet, self.text_encoder):
            module.to(self.device) if self.dtype == torch.float32 else module.to(
                self.device, dtype=self.dtype
            )
            for p in module.parameters():
                if p.requires_grad:
                    p.data = p.data.float()
        self.modules = {"unet": self.unet}
        if cfg.train_text_encoder:
            self.modules["text_encoder"] = self.text_encoder
        self.rank, self.world = self.accelerator.process_index, self.accelerator.num_processes
        self.effective_batch = common.effective_batch(cfg.batch_size, cfg.gradient_accumulation, self.world)
        lr = cfg.learning_rate or (1e-4 if cfg.method == "lora" else 2e-6)
        if cfg.scale_lr:
            lr *= self.effective_batch
        self.learning_rate = lr
        params = [p for m in self.modules.values() for p in m.parameters() if p.requires_grad]
        # only the optimiser goes through accelerate (mixed-precision loss scaling); the models stay
        # plain modules: run_steps averages the gradients over the processes itself, once per step
        self.optimizer = self.accelerator.prepare(common.make_optimizer(params, lr, cfg.use_8bit_adam))
        self.lr_scheduler = common.make_lr_scheduler(
            self.optimizer, cfg.lr_scheduler, cfg.lr_warmup_steps, cfg.max_steps
        )
        self.unwrapped = dict(self.modules)
        self.step = 0
        self.losses: list[float] = []

    # ------------------------------------------------------------ data
    def _class_images(self) -> list[tuple[Path, str]]:
        """The class images, generated first (by the main process; the others wait) when too few."""
        cfg = self.config
        folder = Path(cfg.class_dir)
        if self.accelerator.is_main_process:
            self._generate_class_images(folder)
        common.wait_for_everyone(self.accelerator)
        have = [p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
        return [(p, cfg.class_prompt) for p in have[: cfg.num_class_images]]

    def _generate_class_images(self, folder: Path) -> None:
        cfg = self.config
        folder.mkdir(parents=True, exist_ok=True)
        have = [p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
        missing = cfg.num_class_images - len(have)
        if missing > 0:
            from tqdm import tqdm

            pipe = build_sd_pipeline(cfg.base, self.tokenizer, self.text_encoder, self.vae, self.unet)
            pipe.to(self.device)
            pipe.set_progress_bar_config(disable=True)
            for i in tqdm(range(missing), desc="class images", disable=not cfg.progress):
                generator = torch.Generator("cpu").manual_seed(cfg.seed + 10_000 + len(have) + i)
                image = pipe(
                    cfg.class_prompt, num_inference_steps=cfg.class_inference_steps, generator=generator,
                    height=cfg.resolution, width=cfg.resolution,
                ).images[0]  # fmt: skip
                path = folder / f"class-{len(have) + i:05d}.png"
                image.save(path)
            del pipe

    def _batch(self, items: list[tuple[Path, str]], indices: list[int], generators: list[torch.Generator]):
        flips = [bool(torch.rand(1, generator=g) < 0.5) for g in generators]
        pixels = torch.stack(
            [
                common.load_square_image(items[i][0], self.config.resolution, flip and self.config.random_flip)
                for i, flip in zip(indices, flips)
            ]
        )
        return pixels, [items[i][1] for i in indices]

    def encode_prompts(self, captions: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(
            captions, padding="max_length", max_length=self.tokenizer.model_max_length, truncation=True,
            return_tensors="pt",
        ).input_ids.to(self.device)  # fmt: skip
        return self.text_encoder(tokens)[0]

    def diffusion_loss(
        self, pixels, captions, generator: torch.Generator | list[torch.Generator], reduce: bool = True
    ) -> torch.Tensor:
        """Noise-prediction MSE (or v-prediction) for a batch; per-sample losses when not `reduce`.

        `generator`: one per sample (each sample's draws then independent of the batch it is in),
        or one for the whole batch."""
        generators = generator if isinstance(generator, list) else [generator] * len(captions)
        with torch.no_grad():
            posterior = self.vae.encode(pixels.to(self.device, self.dtype)).latent_dist
            eps = common.randn_per_sample(posterior.mean.shape[1:], generators)
            latents = (posterior.mean + posterior.std * eps.to(self.device, posterior.mean.dtype)) * (
                self.vae.config.scaling_factor
            )
        latents = latents.float()
        noise = common.randn_per_sample(latents.shape[1:], generators).to(self.device)
        steps = self.noise_scheduler.config.num_train_timesteps
        timesteps = common.randint_per_sample(steps, generators).to(self.device)
        noisy = self.noise_scheduler.add_noise(latents, noise, timesteps)
        context = self.encode_prompts(captions)
        with self.accelerator.autocast():
            prediction = self.unet(noisy.to(self.dtype), timesteps, context.to(self.dtype)).sample.float()
        if self.noise_scheduler.config.prediction_type == "v_prediction":
            target = self.noise_scheduler.get_velocity(latents, noise, timesteps)
        else:
            target = noise
        per_sample = F.mse_loss(prediction, target, reduction="none").mean(dim=(1, 2, 3))
        return per_sample.mean() if reduce else per_sample

    def step_loss(self, micro_step: int) -> torch.Tensor:
        """The loss of this process's share of micro step `micro_step`'s global batch."""
        cfg = self.config
        bs, first = cfg.batch_size, self.rank * cfg.batch_size
        indices = common.shard_indices(len(self.items), micro_step, bs, cfg.seed, self.rank, self.world)
        generators = common.sample_generators(cfg.seed, micro_step, first, bs)
        pixels, captions = self._batch(self.items, indices, generators)
        if not cfg.prior_preservation:
            return self.diffusion_loss(pixels, captions, generators)
        class_indices = common.shard_indices(
            len(self.class_items), micro_step, bs, cfg.seed + 1, self.rank, self.world
        )
        class_generators = common.sample_generators(cfg.seed, micro_step, first, bs, group=1)
        class_pixels, class_captions = self._batch(self.class_items, class_indices, class_generators)
        per_sample = self.diffusion_loss(
            torch.cat([pixels, class_pixels]), captions + class_captions, generators + class_generators,
            reduce=False,
        )  # fmt: skip
        n = len(indices)
        return per_sample[:n].mean() + cfg.prior_loss_weight * per_sample[n:].mean()

    @torch.no_grad()
    def eval_loss(self, seed: int = 1234) -> float:
        """Loss on all training images with fixed noise and timesteps (a stable overfitting measure)."""
        generator = torch.Generator("cpu").manual_seed(seed)
        pixels = torch.stack([common.load_square_image(p, self.config.resolution) for p, _ in self.items])
        return float(self.diffusion_loss(pixels, [c for _, c in self.items], generator))

    # ------------------------------------------------------------ training
    def resume(self) -> None:
        cfg = self.config
        if not cfg.resume:
            return
        path = common.find_checkpoint(cfg.resume, self.output / "checkpoints")
        if path is None:
            return  # "latest" with no checkpoint yet: a fresh start
        self.step, info, _ = common.load_checkpoint(path, self.unwrapped, self.optimizer, self.lr_scheduler)
        self.losses = list(info.get("losses", []))

    def save_checkpoint(self) -> Path:
        info = {"losses": self.losses, "method": self.config.method, "processes": self.world,
                "effective_batch": self.effective_batch}  # fmt: skip
        return common.save_checkpoint(
            self.output / "checkpoints", self.step, self.unwrapped, self.optimizer, info=info,
            keep=self.config.checkpoints_total_limit, scheduler=self.lr_scheduler,
        )  # fmt: skip

    def validate(self) -> list[Path]:
        cfg = self.config
        if not cfg.validation_prompt:
            return []
        text_encoder = self.accelerator.unwrap_model(self.text_encoder)
        pipe = build_sd_pipeline(
            cfg.base, self.tokenizer, text_encoder, self.vae, self.accelerator.unwrap_model(self.unet)
        )
        pipe.set_progress_bar_config(disable=True)
        folder = self.output / "validation"
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for i in range(cfg.num_validation_images):
            generator = torch.Generator("cpu").manual_seed(cfg.seed + i)
            with torch.no_grad(), self.accelerator.autocast():
                image = pipe(
                    cfg.validation_prompt, num_inference_steps=cfg.validation_inference_steps, generator=generator,
                    height=cfg.resolution, width=cfg.resolution,
                ).images[0]  # fmt: skip
            path = folder / f"step-{self.step:06d}-{i}.png"
            image.save(path)
            paths.append(path)
        return paths

    def train(self, callback: Callable[[int, float], None] | None = None) -> StyleResult:
        """Run to `max_steps` (from a checkpoint when `resume` is set). `callback(step, loss)` runs
        after every optimisation step."""
        cfg = self.config
        self.resume()
        self.output.mkdir(parents=True, exist_ok=True)
        params = [p for m in self.unwrapped.values() for p in m.parameters() if p.requires_grad]
        validation: list[Path] = []
        for module in self.modules.values():
            module.train()

        def validate_when_due() -> None:
            if cfg.validation_prompt and cfg.validation_steps and self.step % cfg.validation_steps == 0:
                if self.accelerator.is_main_process:
                    validation.extend(self.validate())
                common.wait_for_everyone(self.accelerator)

        common.run_steps(self, params, "train style", callback, after_step=validate_when_due)
        output = self.output_path()
        if self.accelerator.is_main_process:
            self.save_output()
        common.wait_for_everyone(self.accelerator)
        return StyleResult(
            self.step, self.losses[-1] if self.losses else float("nan"), output, self.losses, validation
        )

    def output_path(self) -> Path:
        return self.output / "pytorch_lora_weights.safetensors" if self.config.method == "lora" else self.output

    def save_output(self) -> Path:
        cfg = self.config
        unet = self.accelerator.unwrap_model(self.unet)
        text_encoder = self.accelerator.unwrap_model(self.text_encoder)
        if cfg.method == "lora":
            from diffusers import StableDiffusionPipeline
            from peft.utils import get_peft_model_state_dict

            # PEFT key names (lora_A/lora_B) throughout: diffusers' old-name conversion covers only
            # attention projections and would leave a mixed, unloadable file for the other targets
            unet_layers = get_peft_model_state_dict(unet)
            text_layers = get_peft_model_state_dict(text_encoder) if cfg.train_text_encoder else None
            StableDiffusionPipeline.save_lora_weights(
                self.output, unet_lora_layers=unet_layers, text_encoder_lora_layers=text_layers
            )
            target = self.output / "pytorch_lora_weights.safetensors"
        else:
            pipe = build_sd_pipeline(
                cfg.base, self.tokenizer, text_encoder.float(), self.vae.float(), unet.float()
            )
            pipe.save_pretrained(self.output)
            target = self.output
        (self.output / "training_info.json").write_text(
            json.dumps(
                {"base": cfg.base, "method": cfg.method, "steps": self.step, "final_loss": self.losses[-1]},
                indent=2,
            )
        )
        return target


def train_style(config: StyleConfig, callback: Callable[[int, float], None] | None = None) -> StyleResult:
    return StyleTrainer(config).train(callback)

"""AnyText on diffusers: text ControlNet, auxiliary latent module, text embedding module, OCR recogniser, pipeline."""

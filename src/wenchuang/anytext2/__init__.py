"""AnyText2 on diffusers: per-line font and colour (WriteNet + AttnX + font/colour text embedding)."""

"""Subcommands of the `wenchuang` CLI, one module per area (see wenchuang.cli)."""

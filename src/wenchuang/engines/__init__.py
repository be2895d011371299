"""Engines turn a DesignRequest into a DesignResult: `classic` (no weights) and `anytext`."""

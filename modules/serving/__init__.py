"""Serving: the exported SavedModel and its searches.

export.py (the signatures of `modules/signatures.py`'s contract), decoding.py (greedy,
sampling and beam search), config.py (`DecodingConfig`). May import `modules.text`,
`modules.model`, `modules.signatures` and `modules.settings`.
"""

"""What the pipeline's components run, by concern: text/ (Transform), model/ (the
architectures), training/ (the Trainer), serving/ (the exported model and its searches),
metrics.py (the Evaluator's BLEU, chrF and loss), settings.py (what every config is made
of). Nothing here imports `pipeline` or `components` (tests/test_layers.py)."""

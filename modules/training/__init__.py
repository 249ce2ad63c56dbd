"""Training: the Trainer's `run_fn` (trainer.py) and what it uses.

config.py (`TrainingConfig`), data.py (input), distribution.py (the strategy),
precision.py, callbacks.py (the clock and budget, checkpoints, throughput, the stop on a
diverged loss), checkpoint_averaging.py, learning_rate.py, fused_adam.py, progress.py
(progress lines for the console). May import any other package of `modules`;
config.py imports no TensorFlow.
"""

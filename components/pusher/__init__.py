"""Pusher: TFX's filesystem Pusher, made atomic and free of duplicate pushes."""

from components.pusher.component import Pusher

__all__ = ["Pusher"]

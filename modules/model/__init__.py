"""The encoder-decoder attention model, one concern per file."""

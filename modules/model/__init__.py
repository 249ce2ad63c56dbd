"""The architectures: the RNN with attention (rnn*.py, recurrent.py) and the Transformer
(transformer*.py), both TranslationModels (translation_model.py), one concern per file.
May import `modules.text` and `modules.settings`."""

"""Text: what turns sentences into ids and back, in Transform and in the exported model.

words.py (special tokens, the tutorial's word rules), subwords.py (SentencePiece: the
normalisation, the Beam analyzer, the in-graph tokenizer), transform.py (`preprocessing_fn`),
tokenizers.py (ids back to text), config.py (`TransformConfig`). Imports `modules.settings`
and `modules.signatures` only, of this project; config.py imports no TensorFlow.
"""

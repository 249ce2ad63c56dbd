"""The exported model's contract: signature names and their input and output keys.

The Trainer writes the SavedModel with these names (modules/serving/export.py); the Evaluator, the
report, `nmt-pipeline translate` and the benchmarks read it with them. No TensorFlow here.

  serving_default (the configured search), greedy, beam_search
      SENTENCES string[batch] -> TRANSLATION string[batch]; "" for a sentence with no
      token (empty or blank)
  attention
      SENTENCES -> TRANSLATION, SOURCE_TOKENS string[batch, src_len] (padded with ""),
      OUTPUT_TOKENS string[batch, steps] (ending in [END] where the search finished),
      ATTENTION_WEIGHTS float32[batch, steps, src_len], TRUNCATED bool[batch] (the source
      had more than max_source_tokens tokens and only those were translated)
  evaluate
      EXAMPLES serialized raw tf.Examples [batch] -> TRANSLATION (search: eval_decoding),
      REFERENCE string[batch],
      LOSS float32[batch] (mean cross-entropy per target token), TARGET_TOKENS float32[batch]
  slice_features
      EXAMPLES -> SOURCE_LENGTH_BUCKET string[batch]
"""

SERVING_DEFAULT = "serving_default"
GREEDY = "greedy"
BEAM_SEARCH = "beam_search"
ATTENTION = "attention"
EVALUATE = "evaluate"
SLICE_FEATURES = "slice_features"

# The signature of each search a caller may ask for by its DecodingConfig name.
SEARCH_SIGNATURES = {"greedy": GREEDY, "beam": BEAM_SEARCH}

# Inputs.
SENTENCES = "sentences"
EXAMPLES = "examples"
# The raw tf.Example features that EXAMPLES carry (TsvExampleGen's output).
SOURCE_FEATURE = "source"
TARGET_FEATURE = "target"

# Outputs.
TRANSLATION = "translation"
SOURCE_TOKENS = "source_tokens"
OUTPUT_TOKENS = "output_tokens"
ATTENTION_WEIGHTS = "attention"
TRUNCATED = "truncated"
REFERENCE = "reference"
LOSS = "loss"
TARGET_TOKENS = "target_tokens"
SOURCE_LENGTH_BUCKET = "source_length_bucket"

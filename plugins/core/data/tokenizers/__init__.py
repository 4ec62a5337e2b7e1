"""Caption tokenizers as pipeline transforms: CLIP BPE (+ MLM masking) and a word vocabulary."""
from .clip_bpe_files import EOT_ID, MASK_ID, SOT_ID, clip_bpe_files
from .clip_tokenize import CLIPTokenize
from .masked_language_modeling import MaskedLanguageModeling
from .prepare_word_vocabulary import prepare_word_vocabulary, vocabulary_for_training
from .word_tokenize import WordTokenize
from .word_vocabulary import WordVocabulary

__all__ = ['CLIPTokenize', 'MaskedLanguageModeling', 'WordTokenize', 'WordVocabulary', 'prepare_word_vocabulary',
           'vocabulary_for_training', 'clip_bpe_files', 'SOT_ID', 'EOT_ID', 'MASK_ID']

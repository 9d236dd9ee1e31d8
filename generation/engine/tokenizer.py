"""Build a transformers ``CLIPTokenizer`` offline from the BPE vocabulary that open_clip ships.

Why: the tiny test pipeline needs the real CLIP tokenizer (the same ids a Stable Diffusion 1.x
text encoder expects), and nothing may be downloaded at run time.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from functools import cache
from importlib.util import find_spec
from pathlib import Path

from transformers import CLIPTokenizer

#: Number of merges OpenAI CLIP uses: 49152 total entries minus 256 bytes minus the 2 specials.
_NUM_MERGES = 49152 - 256 - 2
_START = "<|startoftext|>"
_END = "<|endoftext|>"
MODEL_MAX_LENGTH = 77


def bpe_vocabulary_path() -> Path:
    """Return the path of ``bpe_simple_vocab_16e6.txt.gz`` inside the installed open_clip.

    Uses the import spec rather than importing open_clip, which would pull in its models.
    """
    spec = find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("open_clip is not installed; it ships CLIP's BPE vocabulary")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "bpe_simple_vocab_16e6.txt.gz"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("open_clip is installed without bpe_simple_vocab_16e6.txt.gz")


@cache
def bytes_to_unicode() -> dict[int, str]:
    """Map each byte to a printable unicode character, exactly as OpenAI CLIP's BPE does."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in codes), strict=True))


def clip_vocab_and_merges(
    num_merges: int = _NUM_MERGES,
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Return CLIP's token->id vocabulary and its ordered BPE merges.

    With the default ``num_merges`` this is CLIP's own vocabulary (49408 entries). Fewer merges
    keep only the most frequent ones: a smaller vocabulary (``num_merges`` + 514 entries) whose
    rarer words split into more pieces; a tiny text encoder then needs a far smaller embedding.
    """
    if not 0 < num_merges <= _NUM_MERGES:
        raise ValueError(f"num_merges must be in 1..{_NUM_MERGES}, got {num_merges}")
    with gzip.open(bpe_vocabulary_path(), "rt", encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    # Line 0 is a version header; SimpleTokenizer keeps lines[1 : 49152 - 256 - 2 + 1].
    merges: list[tuple[str, str]] = []
    for line in lines[1 : num_merges + 1]:
        first, second = line.split()
        merges.append((first, second))
    symbols = list(bytes_to_unicode().values())
    tokens = [*symbols, *(s + "</w>" for s in symbols), *("".join(m) for m in merges), _START, _END]
    return {token: index for index, token in enumerate(tokens)}, merges


def write_clip_tokenizer(directory: Path, *, num_merges: int = _NUM_MERGES) -> None:
    """Write the files of a CLIP tokenizer to ``directory`` so ``from_pretrained`` can load it.

    The directory gets ``vocab.json`` and ``merges.txt`` (the Stable Diffusion 1.x layout, which
    transformers 4.x needs) plus whatever ``save_pretrained`` writes (``tokenizer.json`` and
    ``tokenizer_config.json`` on transformers 5).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    vocab, merges = clip_vocab_and_merges(num_merges)
    with tempfile.TemporaryDirectory(prefix=".clip-tokenizer-", dir=directory) as scratch:
        vocab_file = Path(scratch) / "vocab.json"
        merges_file = Path(scratch) / "merges.txt"
        vocab_file.write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
        merges_file.write_text(
            "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8"
        )
        # Positional file paths work on transformers 4.x (vocab_file, merges_file) and 5.x
        # (vocab, merges), where a string argument is read as a file path.
        tokenizer = CLIPTokenizer(
            str(vocab_file),
            str(merges_file),
            model_max_length=MODEL_MAX_LENGTH,
            bos_token=_START,
            eos_token=_END,
            unk_token=_END,
            pad_token=_END,
        )
        tokenizer.save_pretrained(directory)
        vocab_file.replace(directory / "vocab.json")
        merges_file.replace(directory / "merges.txt")

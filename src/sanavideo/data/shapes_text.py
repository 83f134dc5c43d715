"""The embedded model's text stack: a word-level tokenizer over the shapes world and a tiny Gemma-2 encoder.

Both load offline with the usual `transformers` calls once saved to a folder:

    save_text_stack("out/text", seed=0)
    tok = AutoTokenizer.from_pretrained("out/text")          # PreTrainedTokenizerFast, word level
    enc = AutoModel.from_pretrained("out/text")              # Gemma2Model; feature = last hidden state

The tokenizer lower-cases, splits on whitespace and punctuation, maps each word of the world's vocabulary
(`sanavideo.data.shapes.caption_vocabulary()`, plus a few common words users type) to one id and anything else
to <unk>. Like Gemma it puts <bos> first and no <eos>, pads on the right, and uses Gemma's special-token ids
(pad 0, eos 1, bos 2, unk 3), so SANA's "BOS + last positions" selection works unchanged. The encoder's weights
are random here; they are trained jointly with the transformer.
"""

from __future__ import annotations

from pathlib import Path

from sanavideo.data.shapes import caption_vocabulary

SPECIAL_TOKENS = ("<pad>", "<eos>", "<bos>", "<unk>")  # ids 0..3, Gemma's order
# Words outside the captions that prompts and SANA's negative prompt commonly contain; they get ids of their
# own so that they do not all collapse onto <unk>.
EXTRA_WORDS = (
    "the",
    "an",
    "and",
    "of",
    "with",
    "in",
    "on",
    "is",
    "to",
    "at",
    "it",
    "its",
    "from",
    "into",
    "across",
    "shape",
    "object",
    "ball",
    "box",
    "video",
    "clip",
    "scene",
    "frame",
    "moving",
    "move",
    "fast",
    "slow",
    "large",
    "tiny",
    "circles",
    "squares",
    "triangles",
    "grey",
    "colour",
    "color",
    "high",
    "low",
    "!",
    "?",
    ";",
    "'",
    '"',
    "-",
    "(",
    ")",
)
MAX_LENGTH = 300  # SANA's text length


def vocabulary() -> list[str]:
    """Special tokens first (ids 0..3), then the caption vocabulary, then the extra words; no duplicates."""
    words: list[str] = list(SPECIAL_TOKENS)
    seen = set(words)
    for word in [*caption_vocabulary(), *EXTRA_WORDS]:
        if word not in seen:
            words.append(word)
            seen.add(word)
    return words


def build_tokenizer(model_max_length: int = MAX_LENGTH):
    """A word-level `PreTrainedTokenizerFast` over `vocabulary()` (lower-case, <bos> prepended, right padding)."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {word: i for i, word in enumerate(vocabulary())}
    core = Tokenizer(WordLevel(vocab=vocab, unk_token="<unk>"))
    core.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    core.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Punctuation(),
            pre_tokenizers.Digits(individual_digits=False),
        ]
    )
    core.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", vocab["<bos>"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
        padding_side="right",
        model_max_length=model_max_length,
    )


def build_text_encoder(
    seed: int = 0,
    hidden_size: int = 128,
    num_layers: int = 2,
    num_heads: int = 4,
    intermediate_size: int = 256,
    vocab_size: int | None = None,
):
    """A tiny randomly initialised `Gemma2Model` (fp32) whose vocabulary matches `build_tokenizer()`."""
    import torch
    from transformers import Gemma2Config, Gemma2Model

    if hidden_size % num_heads:
        raise ValueError(f"hidden_size ({hidden_size}) must be divisible by num_heads ({num_heads})")
    config = Gemma2Config(
        vocab_size=vocab_size if vocab_size is not None else len(vocabulary()),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        head_dim=hidden_size // num_heads,
        max_position_embeddings=512,
        sliding_window=MAX_LENGTH + 1,  # longer than any prompt: every layer sees the whole prompt
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
        attn_implementation="eager",
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Gemma2Model(config)
    return model.eval()


def save_text_stack(out_dir: str | Path, seed: int = 0, **encoder_kwargs) -> Path:
    """Save the tokenizer and a fresh tiny encoder into one folder (safetensors); returns the folder."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    model = build_text_encoder(seed, vocab_size=len(tokenizer), **encoder_kwargs)
    tokenizer.save_pretrained(out)
    model.save_pretrained(out, safe_serialization=True)
    return out

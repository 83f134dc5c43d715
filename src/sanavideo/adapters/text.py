"""Text encoders: any `transformers` encoder whose first output is the last hidden state (docs/reference.md §3.1).

SANA-Video uses Gemma-2-2B-it's decoder (`Gemma2Model`, last hidden state after the final norm, dim 2304).
The prompt recipe:

1. Optional lower-casing and stripping of user prompts (diffusers does it; the upstream scripts do not).
2. Motion score: `prompt.strip() + " motion score: N."` when a score is given (negative prompts never get one).
3. CHI (complex human instruction): `chi = "\\n".join(lines)`; the tokenised text is `chi + prompt`, padded
   on the right and truncated to `len(tokenize(chi)) + max_length - 2`, and the features and mask kept are
   **BOS + the last `max_length - 1` positions** (`select_index = [0] + range(-(max_length-1), 0)`).
4. The negative prompt is encoded without CHI, padded/truncated to `max_length`, no selection.

The same adapter serves the tiny embedded model: a small encoder with a word-level tokenizer and `chi=None`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

# The video CHI: diffusers' `SanaVideoPipeline` default.
VIDEO_CHI: tuple[str, ...] = (
    "Given a user prompt, generate an 'Enhanced prompt' that provides detailed visual descriptions suitable for video generation. Evaluate the level of detail in the user prompt:",
    "- If the prompt is simple, focus on adding specifics about colors, shapes, sizes, textures, motion, and temporal relationships to create vivid and dynamic scenes.",
    "- If the prompt is already detailed, refine and enhance the existing details slightly without overcomplicating.",
    "Here are examples of how to transform or refine prompts:",
    "- User Prompt: A cat sleeping -> Enhanced: A small, fluffy white cat slowly settling into a curled position, peacefully falling asleep on a warm sunny windowsill, with gentle sunlight filtering through surrounding pots of blooming red flowers.",
    "- User Prompt: A busy city street -> Enhanced: A bustling city street scene at dusk, featuring glowing street lamps gradually lighting up, a diverse crowd of people in colorful clothing walking past, and a double-decker bus smoothly passing by towering glass skyscrapers.",
    "Please generate only the enhanced description for the prompt below and avoid including any additional commentary or evaluations:",
    "User Prompt: ",
)

# The image CHI: what the upstream SANA-Video 2B configs list (`text_encoder.chi_prompt`).
IMAGE_CHI: tuple[str, ...] = (
    "Given a user prompt, generate an 'Enhanced prompt' that provides detailed visual descriptions suitable for image generation. Evaluate the level of detail in the user prompt:",
    "- If the prompt is simple, focus on adding specifics about colors, shapes, sizes, textures, and spatial relationships to create vivid and concrete scenes.",
    "- If the prompt is already detailed, refine and enhance the existing details slightly without overcomplicating.",
    "Here are examples of how to transform or refine prompts:",
    "- User Prompt: A cat sleeping -> Enhanced: A small, fluffy white cat curled up in a round shape, sleeping peacefully on a warm sunny windowsill, surrounded by pots of blooming red flowers.",
    "- User Prompt: A busy city street -> Enhanced: A bustling city street scene at dusk, featuring glowing street lamps, a diverse crowd of people in colorful clothing, and a double-decker bus passing by towering glass skyscrapers.",
    "Please generate only the enhanced description for the prompt below and avoid including any additional commentary or evaluations:",
    "User Prompt: ",
)

CHI_PRESETS: dict[str, tuple[str, ...] | None] = {"video": VIDEO_CHI, "image": IMAGE_CHI, "none": None}

DEFAULT_NEGATIVE_PROMPT = (
    "A chaotic sequence with misshapen, deformed limbs in heavy motion blur, sudden disappearance, jump cuts, jerky "
    "movements, rapid shot changes, frames out of sync, inconsistent character shapes, temporal artifacts, jitter, "
    "and ghosting effects, creating a disorienting visual experience."
)


def resolve_chi(chi: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """`'video'`, `'image'`, `'none'`/None, or an explicit list of instruction lines."""
    if chi is None:
        return None
    if isinstance(chi, str):
        if chi not in CHI_PRESETS:
            raise ValueError(
                f"unknown CHI preset {chi!r}; expected one of {sorted(CHI_PRESETS)} or a list of lines"
            )
        return CHI_PRESETS[chi]
    lines = tuple(str(line) for line in chi)
    return lines or None


def add_motion_score(prompt: str, motion_score: int | None) -> str:
    """Append SANA-Video's `" motion score: N."` suffix (None leaves the prompt unchanged)."""
    if motion_score is None:
        return prompt
    if motion_score < 0:
        raise ValueError(f"motion_score must be >= 0 (or None for no suffix), got {motion_score}")
    return f"{prompt.strip()} motion score: {int(motion_score)}."


@dataclass(frozen=True)
class PromptFormat:
    """How prompts become token ids: CHI lines (None disables CHI), token budget, lower-casing."""

    chi: tuple[str, ...] | None = VIDEO_CHI
    max_length: int = 300
    lowercase: bool = True

    def __post_init__(self) -> None:
        if self.max_length < 2:
            raise ValueError(f"max_length must be at least 2 (BOS + one token), got {self.max_length}")

    @property
    def select_index(self) -> list[int]:
        """BOS plus the last `max_length - 1` positions."""
        return [0, *range(-(self.max_length - 1), 0)]


@dataclass
class TokenizedPrompts:
    """Token ids and mask after selection, `(B, L)` each."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor


def text_model(model: torch.nn.Module) -> torch.nn.Module:
    """The stack whose last hidden state is the text feature: the encoder of an encoder-decoder model, the
    decoder stack of a `*ForCausalLM` (upstream's `get_decoder()`), else the model itself."""
    if getattr(model.config, "is_encoder_decoder", False):
        return model.get_encoder()
    if hasattr(model, "get_decoder") and not hasattr(model, "embed_tokens"):
        return model.get_decoder()
    return model


def text_features(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, L) token ids and mask -> (B, L, D) features (differentiable: the trainer's text encoder uses it)."""
    return text_model(model)(input_ids=ids, attention_mask=mask)[0]


def load_text_model(folder: str | Path, dtype: torch.dtype | None = None) -> torch.nn.Module:
    """A transformers model from `folder/text_encoder`, or `folder` itself (`AutoModel`: base model, no head)."""
    from transformers import AutoModel

    folder = Path(folder)
    path = folder / "text_encoder" if (folder / "text_encoder").is_dir() else folder
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} has no config.json; expected a transformers model folder")
    return (
        AutoModel.from_pretrained(str(path), dtype=dtype)
        if dtype is not None
        else AutoModel.from_pretrained(str(path))
    )


class TextEncoder:
    """A `transformers` tokenizer + encoder producing `(embeds (B, L, D), mask (B, L))` per docs/reference.md §3.1."""

    def __init__(
        self, tokenizer, model: torch.nn.Module | None, prompt_format: PromptFormat | None = None
    ) -> None:
        """model None: token ids only (`tokenize`), as for a text encoder that is trained from the ids."""
        self.tokenizer = tokenizer
        self.model = text_model(model).eval() if model is not None else None
        self.format = prompt_format or PromptFormat()
        self.tokenizer.padding_side = "right"

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> TextEncoder:
        self.model.to(device=device, dtype=dtype)
        return self

    def _clean(self, prompts: Sequence[str]) -> list[str]:
        return [p.lower().strip() if self.format.lowercase else p for p in prompts]

    def _tokenize_all(
        self, prompts: Sequence[str], use_chi: bool
    ) -> tuple[TokenizedPrompts, list[int] | None]:
        """Tokens of the full sequence the encoder sees, and the positions to keep (None: keep all)."""
        prompts = self._clean(prompts)
        chi = self.format.chi if use_chi else None
        max_length = self.format.max_length
        if chi is not None:
            chi_text = "\n".join(chi)
            prompts = [chi_text + p for p in prompts]
            # "magic number 2" of upstream: the CHI's BOS and the boundary token are counted in both parts
            max_length = len(self.tokenizer.encode(chi_text)) + self.format.max_length - 2
        for prompt, ids in zip(prompts, self.tokenizer(list(prompts), add_special_tokens=True).input_ids):
            if len(ids) > max_length:
                import warnings

                shown = prompt if chi is None else prompt[len(chi_text) :]
                warnings.warn(
                    f"prompt of {len(ids)} tokens cut to the model's limit of {max_length} "
                    f"(the end is dropped): {shown[:60]!r}...",
                    stacklevel=3,
                )
        tokens = self.tokenizer(
            list(prompts),
            padding="max_length",
            max_length=max_length,
            truncation=True,
            add_special_tokens=True,
            return_tensors="pt",
        )
        select = self.format.select_index if chi is not None else None
        return TokenizedPrompts(tokens.input_ids, tokens.attention_mask), select

    def tokenize(self, prompts: Sequence[str], use_chi: bool = True) -> TokenizedPrompts:
        """Token ids and mask the features correspond to (after the CHI selection), `(B, L)` each."""
        tokens, select = self._tokenize_all(prompts, use_chi)
        if select is None:
            return tokens
        return TokenizedPrompts(tokens.input_ids[:, select], tokens.attention_mask[:, select])

    @torch.no_grad()
    def encode(self, prompts: Sequence[str], use_chi: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Features `(B, L, D)` and mask `(B, L)` of the prompts (positive prompts: `use_chi=True`).

        With CHI the encoder sees the whole `chi + prompt` sequence and the selection is taken afterwards,
        as upstream does (the kept features have attended to the instruction).
        """
        tokens, select = self._tokenize_all(prompts, use_chi)
        mask = tokens.attention_mask.to(self.device)
        features = text_features(self.model, tokens.input_ids.to(self.device), mask)  # (B, L_all, D)
        if select is not None:
            features, mask = features[:, select], mask[:, select]  # (B, L_all, D) -> (B, max_length, D)
        return features, mask


def load_text_encoder(
    path: str | Path,
    tokenizer_path: str | Path | None = None,
    prompt_format: PromptFormat | None = None,
    dtype: torch.dtype | None = None,
) -> TextEncoder:
    """Load a `transformers` encoder folder (`AutoModel`: a `*ForCausalLM` checkpoint loads its base model)."""
    from transformers import AutoTokenizer

    path = Path(path)
    tokenizer_path = Path(tokenizer_path) if tokenizer_path is not None else path
    for what, folder in (("text encoder", path), ("tokenizer", tokenizer_path)):
        if not folder.is_dir():
            raise FileNotFoundError(f"no {what} folder at {folder}")
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    return TextEncoder(tokenizer, load_text_model(path, dtype), prompt_format)

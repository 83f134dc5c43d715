"""SANA-Video: a linear-attention diffusion transformer for video (Chen et al., arXiv 2509.24695).

Top to bottom (docs/reference.md §1.2):
  1. patch embed (Conv3d) -> tokens (B, N, D) in (f, h, w) order
  2. timestep -> embedded t (adaLN-single: one shared t_block gives 6 modulations per block), per sample
     or per frame (image-to-video keeps frame 0 at t = 0)
  3. caption -> MLP -> RMSNorm
  4. blocks: x += gate * LinearAttn(mod(norm(x)));  x += CrossAttn(x, caption);  x += gate * MixFFN(mod(norm(x)))
  5. final layer modulated by the embedded t, then unpatchify to (B, C, F, H, W)

One set of weights runs in three modes: bidirectional (default), block-causal over chunks of latent frames
(`chunk_frames=`), and streaming with a constant-size `StreamingCache` (`cache=`). The model predicts the
flow velocity v = noise - x0; sampling lives in `sanavideo.sampling`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.utils.checkpoint
from torch import nn

from sanavideo.config import ModelConfig
from sanavideo.model.attention import AttentionState, CrossAttention, LinearSelfAttention
from sanavideo.model.cache import StreamingCache
from sanavideo.model.layers import CaptionEmbedder, MixFFN, RMSNorm, TimestepEmbedder
from sanavideo.model.ops import BlockContext
from sanavideo.model.rope import rope_rotation


def chunk_layout(num_frames: int, chunk_frames: int | Sequence[int] | None) -> list[int]:
    """Chunk sizes in latent frames. An int c gives chunks of c with the remainder added to the first
    chunk (upstream LongSANA: 21 frames, c=10 -> [11, 10]); a sequence is taken as is; None = one chunk."""
    if chunk_frames is None:
        return [num_frames]
    if isinstance(chunk_frames, int):
        if chunk_frames < 1:
            raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
        n = max(num_frames // chunk_frames, 1)
        return [num_frames - (n - 1) * chunk_frames] + [chunk_frames] * (n - 1)
    sizes = [int(s) for s in chunk_frames]
    if any(s < 1 for s in sizes) or sum(sizes) != num_frames:
        raise ValueError(f"chunk sizes {sizes} must be positive and sum to the {num_frames} latent frames")
    return sizes


class SanaVideoBlock(nn.Module):
    """Upstream `SanaVideoMSBlock` (docs/reference.md §1.5)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        D = cfg.hidden_size
        self.norm1 = nn.LayerNorm(D, elementwise_affine=False, eps=cfg.norm_eps)
        self.attn = LinearSelfAttention(D, cfg.num_heads, cfg.head_dim, cfg.qk_norm_eps, cfg.linear_attn_eps)
        self.cross_attn = CrossAttention(D, cfg.cross_num_heads, cfg.cross_head_dim, cfg.cross_norm_eps)
        self.norm2 = nn.LayerNorm(D, elementwise_affine=False, eps=cfg.norm_eps)
        self.mlp = MixFFN(D, cfg.ffn_hidden, cfg.t_kernel_size)
        self.scale_shift_table = nn.Parameter(torch.randn(6, D) / D**0.5)

    def forward(
        self,
        x: torch.Tensor,
        ctx: BlockContext,
        history: AttentionState | None = None,
        tail: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, AttentionState, torch.Tensor]:
        """x (B, N, D); `ctx` the inputs all blocks share; `history`, `tail` this block's streaming cache.
        Returns x, this call's own attention state and the last frame's Mix-FFN input (for the cache)."""
        B, N, D = x.shape
        f, h, w = ctx.grid
        hw = h * w
        # (B, T, 6D) -> 6 x (B, T, 1, D), broadcast over the tokens of each frame
        mods = (self.scale_shift_table[None, None] + ctx.t_mod.reshape(B, -1, 6, D)).unsqueeze(2).unbind(3)
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = mods

        def modulate(t: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
            # (B, N, D) -> (B, F, HW, D) -> (B, N, D)
            return (t.reshape(B, f, hw, D) * (1 + scale) + shift).reshape(B, N, D).to(x.dtype)

        def gated(t: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
            return (t.reshape(B, f, hw, D) * gate).reshape(B, N, D).to(x.dtype)

        attn_in = modulate(self.norm1(x), shift_msa, scale_msa)
        attn_out, own = self.attn(attn_in, ctx.rope, ctx.chunk_tokens, history)
        x = x + gated(attn_out, gate_msa)
        x = x + self.cross_attn(x, ctx.y, ctx.y_bias)
        ffn_out, last_frame = self.mlp(
            modulate(self.norm2(x), shift_mlp, scale_mlp), ctx.grid, ctx.chunk_frames, tail
        )
        x = x + gated(ffn_out, gate_mlp)
        return x, own, last_frame


class PatchEmbed(nn.Module):
    """Key `x_embedder.proj`: Conv3d with kernel = stride = patch."""

    def __init__(self, in_channels: int, dim: int, patch: tuple[int, int, int]) -> None:
        super().__init__()
        self.proj = nn.Conv3d(in_channels, dim, kernel_size=patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # (B, D, f, h, w) -> (B, N, D)


class FinalLayer(nn.Module):
    """Upstream `T2IFinalLayer`: LayerNorm modulated by the embedded t (2 x D table), then a linear."""

    def __init__(self, dim: int, out_features: int, eps: float) -> None:
        super().__init__()
        self.norm_final = nn.LayerNorm(dim, elementwise_affine=False, eps=eps)
        self.scale_shift_table = nn.Parameter(torch.randn(2, dim) / dim**0.5)
        self.linear = nn.Linear(dim, out_features)

    def forward(self, x: torch.Tensor, t_emb: torch.Tensor, frames: int) -> torch.Tensor:
        B, N, D = x.shape
        # (B, T, D) -> 2 x (B, T, 1, D)
        shift, scale = (self.scale_shift_table[None, None] + t_emb[:, :, None]).unsqueeze(2).unbind(3)
        x = self.norm_final(x).reshape(B, frames, N // frames, D) * (1 + scale) + shift
        return self.linear(x.reshape(B, N, D).to(self.linear.weight.dtype))


class SanaVideoTransformer(nn.Module):
    """The SANA-Video transformer; `state_dict` keys are those of the upstream checkpoint (docs/reference.md §1.10)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = cfg = config
        D = cfg.hidden_size
        self.x_embedder = PatchEmbed(cfg.in_channels, D, cfg.patch_size)
        self.t_embedder = TimestepEmbedder(D)
        self.t_block = nn.Sequential(nn.SiLU(), nn.Linear(D, 6 * D))
        self.y_embedder = CaptionEmbedder(cfg.caption_channels, D)
        self.attention_y_norm = RMSNorm(D, eps=cfg.caption_norm_eps, init=0.01)
        self.blocks = nn.ModuleList([SanaVideoBlock(cfg) for _ in range(cfg.num_layers)])
        self.final_layer = FinalLayer(D, cfg.patch_volume * cfg.out_channels, cfg.norm_eps)
        self.gradient_checkpointing = False

    def init_weights(self) -> None:
        """Upstream `initialize()` (docs/reference.md §1.11): xavier-uniform linears with zero bias, N(0, 0.02) for the
        timestep and caption MLPs, a zero temporal conv."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        w = self.x_embedder.proj.weight
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        for lin in (self.t_embedder.mlp[0], self.t_embedder.mlp[2], self.t_block[1]):
            nn.init.normal_(lin.weight, std=0.02)
        for lin in (self.y_embedder.y_proj.fc1, self.y_embedder.y_proj.fc2):
            nn.init.normal_(lin.weight, std=0.02)
        for block in self.blocks:
            nn.init.zeros_(block.mlp.t_conv.weight)

    def new_cache(self, window: int | None = None) -> StreamingCache:
        return StreamingCache(len(self.blocks), window=window)

    def _check_inputs(
        self, latents: torch.Tensor, timestep: torch.Tensor, prompt_embeds: torch.Tensor
    ) -> None:
        cfg = self.config
        if latents.ndim != 5 or latents.shape[1] != cfg.in_channels:
            raise ValueError(f"latents must be (B, {cfg.in_channels}, F, H, W), got {tuple(latents.shape)}")
        B, _, f, h, w = latents.shape
        pt, ph, pw = cfg.patch_size
        if f % pt or h % ph or w % pw:
            raise ValueError(
                f"latent size (F, H, W) = {(f, h, w)} must be a multiple of the patch {cfg.patch_size}"
            )
        if timestep.shape not in ((B,), (B, f)):
            raise ValueError(f"timestep must have shape ({B},) or ({B}, {f}), got {tuple(timestep.shape)}")
        if (
            prompt_embeds.ndim != 3
            or prompt_embeds.shape[0] != B
            or prompt_embeds.shape[2] != cfg.caption_channels
        ):
            raise ValueError(
                f"prompt_embeds must be ({B}, L, {cfg.caption_channels}), got {tuple(prompt_embeds.shape)}"
            )

    def forward(
        self,
        latents: torch.Tensor,
        timestep: torch.Tensor,
        prompt_embeds: torch.Tensor,
        prompt_mask: torch.Tensor | None = None,
        *,
        chunk_frames: int | Sequence[int] | None = None,
        cache: StreamingCache | None = None,
        frame_offset: int | None = None,
    ) -> torch.Tensor:
        """Flow velocity for latents (B, C, F, H, W) at timestep (B,) or (B, F) with t = 1000 * sigma.

        prompt_embeds (B, L, caption_channels), prompt_mask (B, L) with 1 for real tokens.
        chunk_frames: block-causal attention over chunks of latent frames (see `chunk_layout`).
        cache: streaming; the input is one chunk that attends to the cached history, and its own
            contribution is recorded in the cache (commit it with `cache.advance()`).
        frame_offset: absolute position of the first frame for RoPE (default: 0, or `cache.next_frame`).
        """
        cfg = self.config
        if timestep.ndim == 0:
            timestep = timestep.expand(latents.shape[0])
        self._check_inputs(latents, timestep, prompt_embeds)
        if cache is not None and chunk_frames is not None:
            raise ValueError("pass either cache= (one chunk at a time) or chunk_frames=, not both")
        B = latents.shape[0]
        pt, ph, pw = cfg.patch_size
        grid = (latents.shape[2] // pt, latents.shape[3] // ph, latents.shape[4] // pw)
        chunks = chunk_layout(grid[0], chunk_frames)
        if frame_offset is None:
            frame_offset = cache.next_frame if cache is not None else 0

        # 1. patches -> tokens (B, N, D)
        x = self.x_embedder(latents)
        rope = rope_rotation(grid, cfg.head_dim, cfg.rope_theta, frame_offset, device=x.device)

        # 2. timestep -> embedded t (B, T, D) and block modulations (B, T, 6D), T = 1 or frames
        if cfg.integer_timesteps:
            timestep = timestep.long()
        t = timestep.float().reshape(B, -1)
        t_emb = self.t_embedder(t.flatten()).reshape(B, t.shape[1], -1)
        t_mod = self.t_block(t_emb)

        # 3. caption
        y = self.attention_y_norm(self.y_embedder(prompt_embeds.to(x.dtype)))
        y_bias = None
        if prompt_mask is not None:
            # (B, L) -> (B, 1, 1, L) additive bias
            y_bias = ((1 - prompt_mask.to(y.dtype)) * -10000.0)[:, None, None, :]

        # 4. blocks
        ctx = BlockContext(y, y_bias, t_mod, grid, rope, chunks)
        for i, block in enumerate(self.blocks):
            history, tail = cache.history(i) if cache is not None else (None, None)
            if self.gradient_checkpointing and torch.is_grad_enabled():
                x, own, last_frame = torch.utils.checkpoint.checkpoint(
                    block, x, ctx, history, tail, use_reentrant=False
                )
            else:
                x, own, last_frame = block(x, ctx, history, tail)
            if cache is not None:
                cache.record(i, own, last_frame, frames=grid[0])

        # 5. final layer and unpatchify
        x = self.final_layer(x, t_emb, grid[0])
        f, h, w = grid
        # (B, N, pt*ph*pw*C) -> (B, f, h, w, pt, ph, pw, C) -> (B, C, f, pt, h, ph, w, pw)
        x = x.reshape(B, f, h, w, pt, ph, pw, cfg.out_channels).permute(0, 7, 1, 4, 2, 5, 3, 6)
        return x.reshape(B, cfg.out_channels, f * pt, h * ph, w * pw)

    # -- loading and saving ------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls, path: str | Path, config: ModelConfig | None = None, dtype: torch.dtype | None = None
    ) -> SanaVideoTransformer:
        """Load an upstream `.pth`/`.safetensors`, a diffusers transformer or pipeline folder, or a folder
        written by `save_pretrained`. Loading is strict. `config` overrides the detected architecture."""
        from sanavideo.convert.io import load_transformer

        return load_transformer(cls, path, config=config, dtype=dtype)

    def save_pretrained(self, directory: str | Path) -> None:
        """Write `config.json` and `model.safetensors` (upstream key names) into a folder, atomically."""
        from sanavideo.convert.io import save_transformer

        save_transformer(self, directory)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

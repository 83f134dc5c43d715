"""The flow-matching objective: schedule, noising, per-chunk sigmas, image-to-video, and causality of
block-causal training."""

from __future__ import annotations

import pytest
import torch

from sanavideo.config import PRESETS
from sanavideo.model import SanaVideoTransformer
from sanavideo.sampling.schedules import shift_sigmas as shift_sigma
from sanavideo.train.args import ObjectiveArgs
from sanavideo.train.objective import (
    StepNoise,
    add_noise,
    chunk_sigmas,
    frame_losses,
    logit_normal_sigma,
    masked_loss,
    object_mask,
    position_weights,
)


def test_schedule_is_the_shifted_discrete_logit_normal():
    args = ObjectiveArgs(flow_shift=3.0)
    z = torch.tensor([-50.0, 0.0, 50.0])
    sig = logit_normal_sigma(z, args)
    # u -> 0: index 0 -> sigma 0; u = 0.5: index 500 -> 500*0.999/999 = 0.5 -> shift 3: 0.75; u -> 1: 0.999
    assert sig[0] == 0.0
    assert sig[1] == pytest.approx(shift_sigma(torch.tensor(0.5), 3.0).item(), abs=1e-6)
    assert sig[1] == pytest.approx(0.75, abs=1e-6)
    assert sig[2] == pytest.approx(shift_sigma(torch.tensor(0.999), 3.0).item(), abs=1e-6)
    draws = logit_normal_sigma(torch.randn(20000, generator=torch.Generator().manual_seed(0)), args)
    assert 0.6 < draws.median() < 0.9  # shift 3 pushes the mass to high noise


@pytest.mark.parametrize("mode", ["scaled", "sorted", "shared"])
def test_chunk_sigmas_never_decrease_with_the_chunk_index(mode):
    g = torch.Generator().manual_seed(1)
    sig = chunk_sigmas(
        torch.randn(500, 4, generator=g), torch.rand(500, 4, generator=g), ObjectiveArgs(chunk_timesteps=mode)
    )
    assert sig.shape == (500, 4)
    assert (sig[:, 1:] >= sig[:, :-1]).all()
    assert ((sig >= 0) & (sig <= 1)).all()
    if mode != "shared":
        assert (sig[:, 0] < sig[:, -1]).float().mean() > 0.5


def test_scaled_chunk_sigmas_scale_the_timestep_index_before_the_shift():
    """Upstream (respace, incremental chunk timesteps): idx_k = floor(U * idx_{k+1}), then sigma = shift(idx)."""
    args = ObjectiveArgs(flow_shift=3.0, chunk_timesteps="scaled")
    normals = torch.tensor([[0.0, 0.0, 0.0]])  # last chunk: u = 0.5 -> index 500
    uniforms = torch.tensor([[0.5, 0.5, 0.0]])  # chunk 1: floor(0.5 * 500) = 250; chunk 0: 125

    def upstream(index: int) -> float:
        base = index * 0.999 / 999
        return 3.0 * base / (1 + 2.0 * base)

    sig = chunk_sigmas(normals, uniforms, args)[0]
    assert sig.tolist() == pytest.approx([upstream(125), upstream(250), upstream(500)], abs=1e-6)
    assert sig[1].item() == pytest.approx(0.5, abs=1e-3)  # not 0.5 * shift(0.5) = 0.375
    # mean sigma of chunk 0 of 2 chunks over the logit-normal: about 0.44 (scaling after the shift gave 0.36)
    g = torch.Generator().manual_seed(0)
    many = chunk_sigmas(torch.randn(100_000, 2, generator=g), torch.rand(100_000, 2, generator=g), args)
    assert many[:, 0].mean().item() == pytest.approx(0.44, abs=0.01)


def test_noising_target_and_i2v():
    args = ObjectiveArgs(i2v_prob=0.5)
    x0 = torch.randn(6, 4, 5, 4, 4)
    rnd = StepNoise.draw(0, 7, 6, x0.shape[1:], 2, args, torch.device("cpu"))
    rnd.i2v[:] = torch.tensor([True, False, True, False, False, True])
    nb = add_noise(x0, rnd, [3, 2], args)
    assert nb.timestep.shape == (6, 5)
    sigma = nb.timestep / 1000
    s = sigma[:, None, :, None, None]
    assert torch.allclose(nb.noisy, (1 - s) * x0 + s * rnd.noise, atol=1e-6)
    assert torch.equal(nb.target, rnd.noise - x0)
    # frame 0 of the i2v rows is the clean latent at t = 0 and does not count in the loss
    assert torch.equal(nb.noisy[rnd.i2v, :, 0], x0[rnd.i2v, :, 0])
    assert (nb.timestep[rnd.i2v, 0] == 0).all() and (nb.timestep[~rnd.i2v, 0] > 0).all()
    assert torch.equal(nb.frame_weight[:, 0], (~rnd.i2v).float())
    # per-frame losses: a row's loss ignores a masked frame
    per_frame = torch.arange(30, dtype=torch.float32).reshape(6, 5)
    loss = masked_loss(per_frame, nb.frame_weight)
    assert loss[0] == per_frame[0, 1:].mean() and loss[1] == per_frame[1].mean()


def test_continuation_rows_hold_their_history_clean_and_out_of_the_loss():
    """A continuation clip's first chunk is the history a streamed chunk sees: clean at t = 0, no loss; the rest
    of the row and the other rows are noised as before (i2v rows keep their clean frame 0)."""
    args = ObjectiveArgs(i2v_prob=0.5)
    x0 = torch.randn(4, 4, 6, 4, 4)
    rnd = StepNoise.draw(0, 3, 4, x0.shape[1:], 3, args, torch.device("cpu"))
    rnd.i2v[:] = torch.tensor([False, True, False, True])
    plain = add_noise(x0, rnd, [2, 2, 2], args)
    context = torch.tensor([2, 0, 0, 4])
    nb = add_noise(x0, rnd, [2, 2, 2], args, context_frames=context)
    history = torch.arange(6)[None, :] < context[:, None]  # (B, F)
    assert torch.equal(nb.timestep == 0, history | (torch.arange(6)[None, :] == 0) & rnd.i2v[:, None])
    assert torch.equal(nb.frame_weight, (nb.timestep > 0).float())
    assert torch.equal(nb.noisy[0, :, :2], x0[0, :, :2]) and torch.equal(nb.noisy[3, :, :4], x0[3, :, :4])
    assert torch.equal(nb.timestep[~history], plain.timestep[~history])  # the rest: the same draws
    assert torch.equal(nb.noisy[1:3], plain.noisy[1:3]) and torch.equal(nb.target, plain.target)
    for bad in (torch.tensor([6, 0, 0, 0]), torch.tensor([-1, 0, 0, 0]), torch.tensor([1, 0])):
        with pytest.raises(ValueError, match="context_frames must be"):
            add_noise(x0, rnd, [2, 2, 2], args, context_frames=bad)


def test_shared_rows_take_one_sigma_for_every_chunk_and_leave_the_other_draws_alone():
    """shared_prob: a row drawn shared has the last chunk's logit-normal sigma on all chunks (the text-to-video
    regime); the other rows, and every other draw of the step, are those of shared_prob = 0."""
    cpu = torch.device("cpu")
    base = StepNoise.draw(3, 5, 64, (4, 6, 2, 2), 3, ObjectiveArgs(i2v_prob=0.3), cpu)
    args = ObjectiveArgs(i2v_prob=0.3, shared_prob=0.5)
    rnd = StepNoise.draw(3, 5, 64, (4, 6, 2, 2), 3, args, cpu)
    for name in ("noise", "normals", "uniforms", "drop", "i2v"):
        assert torch.equal(getattr(base, name), getattr(rnd, name)), name
    assert 0 < int(rnd.shared.sum()) < 64 and not base.shared.any()
    plain = chunk_sigmas(rnd.normals, rnd.uniforms, args)
    sig = chunk_sigmas(rnd.normals, rnd.uniforms, args, rnd.shared)
    assert torch.equal(sig[~rnd.shared], plain[~rnd.shared])
    assert torch.equal(sig[rnd.shared], plain[rnd.shared][:, -1:].expand(-1, 3))
    x0 = torch.randn(64, 4, 6, 2, 2)
    timestep = add_noise(x0, rnd, [2, 2, 2], args).timestep  # (64, 6): per frame
    rows = rnd.shared & ~rnd.i2v
    assert (timestep[rows] == timestep[rows][:, -1:]).all()
    assert (timestep[~rnd.shared, 0] < timestep[~rnd.shared, -1]).float().mean() > 0.9


def test_step_noise_rows_do_not_depend_on_the_split():
    args = ObjectiveArgs(caption_dropout=0.3)
    full = StepNoise.draw(4, 11, 8, (4, 5, 4, 4), 3, args, torch.device("cpu"))
    part = StepNoise.draw(4, 11, 8, (4, 5, 4, 4), 3, args, torch.device("cpu")).rows(4, 8)
    assert torch.equal(full.noise[4:], part.noise) and torch.equal(full.drop[4:], part.drop)
    other_step = StepNoise.draw(4, 12, 8, (4, 5, 4, 4), 3, args, torch.device("cpu"))
    assert not torch.equal(full.noise, other_step.noise)


def test_block_causal_training_is_causal():
    """Gradient of chunk 0's loss w.r.t. a later chunk's clean latents (through the noisy input) is exactly 0,
    and w.r.t. chunk 0's own latents it is not."""
    torch.manual_seed(0)
    model = SanaVideoTransformer(PRESETS["tiny"])
    model.init_weights()
    for block in model.blocks:  # upstream initialises the temporal conv to zero: make it act
        torch.nn.init.normal_(block.mlp.t_conv.weight, std=0.3)
    args = ObjectiveArgs(chunk_timesteps="sorted")
    chunks = [2, 2, 2]
    x0 = torch.randn(2, 4, 6, 8, 8, requires_grad=True)
    rnd = StepNoise.draw(0, 0, 2, x0.shape[1:], len(chunks), args, torch.device("cpu"))
    nb = add_noise(x0, rnd, chunks, args)
    pred = model(nb.noisy, nb.timestep, torch.randn(2, 5, 24), torch.ones(2, 5), chunk_frames=chunks)
    per_frame = frame_losses(pred, nb.target)  # (B, F)
    (grad,) = torch.autograd.grad(per_frame[:, :2].sum(), x0, retain_graph=True)
    assert grad[:, :, 2:].abs().max() == 0.0  # exactly zero for chunks 1 and 2
    assert grad[:, :, :2].abs().max() > 0
    # chunk 1's loss does see chunk 0 (the mask is causal, not block-diagonal)
    (grad1,) = torch.autograd.grad(
        frame_losses(
            model(nb.noisy, nb.timestep, torch.randn(2, 5, 24), torch.ones(2, 5), chunk_frames=chunks),
            nb.target,
        )[:, 2:4].sum(),
        x0,
    )
    assert grad1[:, :, :2].abs().max() > 0 and grad1[:, :, 4:].abs().max() == 0.0


def test_object_mask_marks_the_positions_that_differ_from_the_frame():
    x0 = torch.zeros(1, 4, 2, 6, 6)
    x0[:, :, 0] = torch.tensor([1.0, -2.0, 0.5, 3.0])[:, None, None]  # frame 0: uniform background
    x0[0, :, 0, 2, 3] += 5.0  # ... and an object at (2, 3)
    x0[0, :, 0, 2, 4] += 1.0  # ... with a faint edge below the 0.4 threshold (distance 2 of 10)
    mask = object_mask(x0, 0.4)  # (B, F, H, W)
    assert mask.shape == (1, 2, 6, 6)
    assert mask[0, 0].sum() == 1 and mask[0, 0, 2, 3]
    assert object_mask(x0, 0.1)[0, 0].sum() == 2
    assert mask[0, 1].all()  # a uniform frame: every position, so its weighted mean is the plain mean


def test_position_weights_weigh_the_object_in_the_frame_loss():
    torch.manual_seed(0)
    x0 = torch.zeros(2, 4, 3, 4, 4)
    x0[:, :, :, 1, 1] = 3.0  # the object
    pred, target = torch.randn(2, 4, 3, 4, 4), torch.randn(2, 4, 3, 4, 4)
    assert position_weights(x0, ObjectiveArgs()) is None
    w = position_weights(x0, ObjectiveArgs(object_weight=4.0))
    assert w[:, :, 1, 1].eq(4.0).all() and w.sum() == 2 * 3 * (15 + 4)
    err = (pred - target).square().mean(dim=1)  # (B, F, H, W)
    expected = (err.sum(dim=(2, 3)) + 3.0 * err[:, :, 1, 1]) / 19.0
    assert torch.allclose(frame_losses(pred, target, w), expected)
    assert torch.allclose(frame_losses(pred, target, torch.ones(2, 3, 4, 4)), frame_losses(pred, target))


@pytest.mark.parametrize(
    "field,value", [("object_weight", 0.0), ("object_weight", float("nan")), ("object_threshold", 0.0)]
)
def test_object_weight_settings_are_validated(field, value):
    from sanavideo.train.args import TrainArgs, validate

    args = TrainArgs()
    setattr(args.objective, field, value)
    with pytest.raises(ValueError, match=f"objective.{field}"):
        validate(args)

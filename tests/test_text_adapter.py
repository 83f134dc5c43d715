"""The text adapter reproduces docs/reference.md §3.1's token selection: CHI prefix, BOS + last L-1 positions, masks."""

from __future__ import annotations

import pytest
import torch
from test_pipeline_fixtures import tiny_text_encoder, tiny_tokenizer

from sanavideo.adapters import IMAGE_CHI, VIDEO_CHI, PromptFormat, TextEncoder, add_motion_score, resolve_chi

CHI = ("given a user prompt :", "user prompt :")  # 8 words + BOS = 9 tokens


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder(tiny_tokenizer(), tiny_text_encoder(), PromptFormat(chi=CHI, max_length=8))


def ids(encoder: TextEncoder, words: str) -> list[int]:
    vocab = encoder.tokenizer.get_vocab()
    return [vocab[w] for w in words.split()]


def test_chi_selection_keeps_bos_and_last_positions(encoder):
    tokens = encoder.tokenize(["A Red circle"], use_chi=True)  # lower-cased
    # full sequence: <bos> given a user prompt : user prompt : a red circle <pad> x3  (9 + 8 - 2 = 15 tokens);
    # kept: position 0 and the last 7, i.e. the CHI's last token, the prompt, then padding
    expected = ids(encoder, "<bos> : a red circle <pad> <pad> <pad>")
    assert tokens.input_ids.tolist() == [expected]
    assert tokens.attention_mask.tolist() == [[1, 1, 1, 1, 1, 0, 0, 0]]


def test_long_prompt_is_truncated_before_selection(encoder):
    prompt = "a red circle moves to the left on a black background"  # 11 words: 9 + 11 > 15
    with pytest.warns(
        UserWarning, match="prompt of 20 tokens cut to the model's limit of 15 .*'a red circle moves"
    ):
        tokens = encoder.tokenize([prompt], use_chi=True)
    assert tokens.input_ids.tolist() == [ids(encoder, "<bos> : a red circle moves to the")]
    assert tokens.attention_mask.tolist() == [[1] * 8]


def test_negative_prompt_has_no_chi(encoder):
    with pytest.warns(UserWarning, match="prompt of 10 tokens cut to the model's limit of 8"):
        tokens = encoder.tokenize(
            ["blue square", "a green triangle moves up on a white background"], use_chi=False
        )
    assert tokens.input_ids.tolist() == [
        ids(encoder, "<bos> blue square <pad> <pad> <pad> <pad> <pad>"),
        ids(encoder, "<bos> a green triangle moves up on a"),  # truncated to max_length
    ]
    assert tokens.attention_mask.tolist() == [[1, 1, 1, 0, 0, 0, 0, 0], [1] * 8]


def test_features_are_selected_after_encoding(encoder):
    """The kept features attended to the whole CHI + prompt sequence (selection after the encoder)."""
    embeds, mask = encoder.encode(["a red circle"], use_chi=True)
    assert embeds.shape == (1, 8, 16) and mask.tolist() == [[1, 1, 1, 1, 1, 0, 0, 0]]
    full = encoder.tokenizer(
        ["given a user prompt :\nuser prompt :a red circle"],
        padding="max_length",
        max_length=15,
        return_tensors="pt",
    )
    with torch.no_grad():
        hidden = encoder.model(full.input_ids, attention_mask=full.attention_mask)[0]
    torch.testing.assert_close(embeds, hidden[:, [0, *range(-7, 0)]])
    # the same tokens without the instruction give different features
    no_chi, _ = encoder.encode(["a red circle"], use_chi=False)
    assert not torch.allclose(no_chi[:, 1:4], embeds[:, 2:5])


def test_matches_diffusers_encode_prompt(encoder):
    from diffusers import SanaVideoPipeline

    ref = SanaVideoPipeline(
        tokenizer=encoder.tokenizer, text_encoder=encoder.model, vae=None, transformer=None, scheduler=None
    )
    emb, mask, neg, neg_mask = ref.encode_prompt(
        "A red circle",
        True,
        negative_prompt="blue square",
        device=torch.device("cpu"),
        max_sequence_length=8,
        complex_human_instruction=list(CHI),
    )
    ours, ours_mask = encoder.encode(["A red circle"], use_chi=True)
    ours_neg, ours_neg_mask = encoder.encode(["blue square"], use_chi=False)
    torch.testing.assert_close(ours, emb)
    torch.testing.assert_close(ours_neg, neg)
    assert ours_mask.tolist() == mask.tolist() and ours_neg_mask.tolist() == neg_mask.tolist()


def test_no_chi_and_case_options():
    enc = TextEncoder(
        tiny_tokenizer(), tiny_text_encoder(), PromptFormat(chi=None, max_length=6, lowercase=False)
    )
    tokens = enc.tokenize(["Red circle"], use_chi=True)  # CHI disabled: plain max_length tokens
    vocab = enc.tokenizer.get_vocab()
    assert tokens.input_ids.tolist() == [[vocab["<bos>"], vocab["<unk>"], vocab["circle"], 0, 0, 0]]


def test_motion_score_and_chi_presets():
    assert add_motion_score("a red circle moves left ", 10) == "a red circle moves left motion score: 10."
    assert add_motion_score("still", 0) == "still motion score: 0."
    assert add_motion_score("x", None) == "x"
    with pytest.raises(ValueError, match="motion_score must be >= 0"):
        add_motion_score("x", -1)
    assert resolve_chi("video") == VIDEO_CHI and resolve_chi("image") == IMAGE_CHI
    assert resolve_chi("none") is None and resolve_chi(None) is None and resolve_chi(["a", "b"]) == ("a", "b")
    assert VIDEO_CHI[-1] == IMAGE_CHI[-1] == "User Prompt: "
    with pytest.raises(ValueError, match="unknown CHI preset"):
        resolve_chi("audio")

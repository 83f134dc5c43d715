#!/usr/bin/env bash
# The embedded model's recipe as one prepared command for a lent GPU (15 minutes of device time at most, so the
# stages below have fixed time budgets and the results are packed into RESULTS as they are made):
#
#   scripts/train_embedded_gpu.sh RESULTS [VAE_SECONDS=180] [DIT_SECONDS=240]
#
# 1. continue the committed VAE (checkpoints/shapes-vae) with 8x the CPU batch, its decoder alone when the
#    transformer is warm-started (INIT); pack it (vae.tar); with VAE_SECONDS=0 the committed VAE is used as it
#    is and the transformer gets the time;
# 2. `python -m sanavideo train-embedded --vae-from` that VAE: render and encode the transformer's clips,
#    train the transformer block-causally with the tiny Gemma-2 text encoder (warm-started from INIT, default
#    the shipped model; INIT= for a fresh one), assemble the pipeline folder (shapes-tiny.tar.aa, .ab, ...:
#    15 MB pieces). Meanwhile, on the same GPU, a wider VAE (patch2-wide) trains from scratch for the same time,
#    as a measurement for the next VAE recipe (wide.tar, wide.log);
# 3. log.txt: the log of stages 1 and 2.
# Measured on an H200 (2026-11-27, docs/embedded-model.md): the VAE ~6,800 frames/s at batch 64, the
# transformer ~1,000 samples/s at batch 128; with the timeout at 590 s, leave ~120 s for start-up and the cache.
# On a machine whose Python lacks the project's pinned diffusers/transformers, install them first (the device
# tool's wheels, see docs/embedded-model.md). Unpack with `cat shapes-tiny.tar.* | tar x`.
set -euo pipefail
results=${1:?usage: scripts/train_embedded_gpu.sh RESULTS [VAE_SECONDS] [DIT_SECONDS]}
vae_s=${2:-180}
dit_s=${3:-240}
clips=${CLIPS:-20000}
init=${INIT-src/sanavideo/assets/shapes-tiny}
work=${WORK:-/tmp/embedded-gpu}
device=${DEVICE:-cuda}
mkdir -p "$results" "$work"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
log="$results/log.txt"
say() { echo "[$(date +%T)] $*" | tee -a "$log"; }

say "start: $(python3 -c 'import torch, diffusers, transformers; print("torch", torch.__version__, "diffusers",
  diffusers.__version__, "transformers", transformers.__version__, "cuda", torch.cuda.is_available(),
  torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")')"
nproc | sed 's/^/cpus: /' | tee -a "$log"

# 1. the VAE, warm-started (VAE_SECONDS=0: take checkpoints/shapes-vae as it is, the shipped model's VAE)
if [ "$vae_s" = 0 ]; then
  vae_dir=checkpoints/shapes-vae
else
  vae_dir="$work/vae"
  # with a warm-started transformer, only the decoder trains: the latent space it was trained on stays. The loss
  # is the shipped VAE's (ring weight = foreground weight: no colour bleed); lr 5e-4: the CPU's warm-start 2e-4
  # at batch 8, scaled by sqrt(8) for batch 64 (not measured on a GPU yet)
  python3 -m sanavideo train-vae --render 8000 --out "$vae_dir" --init checkpoints/shapes-vae --device "$device" \
    ${init:+--decoder-only} --lr 5e-4 --warmup 50 --foreground-weight 10 --ring-weight 10 --batch 64 --frames 17 33 --crop 32 --steps 1000000 \
    --time-budget "$vae_s" --checkpoint-every 60 --log-every 50 --eval-clips 32 2>&1 | tee -a "$log"
  tar cf "$results/vae.tar" -C "$work" --exclude best vae
  say "vae packed"
fi

# 2. the transformer on its latents, and the wider VAE beside it
python3 -m sanavideo train-vae --render 8000 --out "$work/wide" --preset patch2-wide --device "$device" \
  --lr 2e-3 --warmup 100 --foreground-weight 10 --ring-weight 10 --batch 64 --frames 17 33 --crop 32 --steps 1000000 \
  --time-budget "$dit_s" --checkpoint-every 60 --log-every 100 --eval-clips 32 > "$results/wide.log" 2>&1 &
wide=$!
python3 -m sanavideo train-embedded --out "$work/emb" --device "$device" --vae-from "$vae_dir" --clips "$clips" \
  ${init:+--init-from "$init"} \
  --dit-seconds "$dit_s" data.batch_size=128 optim.lr=1e-3 optim.warmup_steps=200 checkpoint_every=0 \
  log_every=50 2>&1 | tee -a "$log"
(cd "$work/emb" && tar cf - shapes-tiny) | split -b 15M - "$results/shapes-tiny.tar."
say "embedded model packed"
wait "$wide" || say "wide VAE run failed"
tar cf "$results/wide.tar" -C "$work" --exclude best wide || true
say "done"

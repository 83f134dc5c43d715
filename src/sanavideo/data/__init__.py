"""Training data: raw clips, aspect buckets, the precomputed latent/text cache, and a synthetic latent set."""

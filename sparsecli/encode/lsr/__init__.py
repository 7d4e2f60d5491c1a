"""Learned sparse encoders over Hugging Face checkpoints: config, model loading, the two
sides (documents, queries), term weighting on the device and resumable sharded encoding."""

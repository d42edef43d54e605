"""Training: seeded patches, the training loop, exporting bundled models, fine-tuning CREPE tiny."""

"""tinyeie.sw: Deep Compression pipeline, model formats, golden model and command line."""

"""Deep Compression: networks, training, pruning, weight sharing, Huffman coding, model files."""

"""Song in, files out: stems, melody and pictures, as every front end writes them."""

"""Safety classifiers and CLIP brand checks (issue 6). Plain Python: images in, results out."""

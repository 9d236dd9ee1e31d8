"""C2PA manifests: signing credentials, signing, verification (issue 7). Plain Python."""

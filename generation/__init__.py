"""Generation: requests, jobs and assets (`jobs`, a Django app) and the plain-Python parts
that the GPU workers run (`engine`, `checks`, `provenance`)."""

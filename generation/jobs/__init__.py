"""Generation requests, their jobs and the assets they make; the Celery tasks that run them."""

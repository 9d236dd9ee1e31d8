"""Celery tasks of reviews (queue "default")."""

from celery import shared_task


@shared_task(name="reviews.remind_overdue", acks_late=True)
def remind_overdue_task() -> dict:
    """Periodic (Celery beat): remind about overdue review tasks, escalate the late ones."""
    from governance.reviews.notifications import remind_overdue

    return remind_overdue()

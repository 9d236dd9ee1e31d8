"""What the audit log tells other apps, without knowing them (the webhooks app listens).

- ``event_recorded(event=AuditEvent)``: sent by ``audit_record`` inside the caller's
  transaction, once the event is written: a receiver's writes commit or roll back with it.
  On PostgreSQL the event may still be pending (no sequence yet); its fields are final.
- ``checkpoint_signed(checkpoint=AuditCheckpoint)``: a new signed checkpoint of the whole
  chain, sent inside the transaction that saves it.

A receiver must not fail: an exception undoes the caller's change.
"""

from django.dispatch import Signal

event_recorded = Signal()
checkpoint_signed = Signal()

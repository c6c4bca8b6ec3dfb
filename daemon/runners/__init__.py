"""The stages a mail passes, in order: fetch, ingest, outbox; and the timers, billing and
phone intake that start work without a mail. Each calls named store functions."""

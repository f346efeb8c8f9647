"""The pure domain: no I/O, no clock reads. Every decision about money is made here."""

"""Mail rendering: templates -> bytes of a mail (compose), the notices a decision asks for,
the catalogue of notice kinds, and the invoice PDF."""

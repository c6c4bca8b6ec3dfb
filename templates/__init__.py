"""The notice templates, a package of their own so the wheel carries them (daemon/notice_catalogue.py)."""

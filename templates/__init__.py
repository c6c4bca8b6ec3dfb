"""The notice templates, a package of their own so the wheel carries them (daemon/render/notice_catalogue.py)."""

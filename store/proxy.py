"""The database proxy every model binds to; store.db.init_db() points it at a database.

A module of its own so store/models.py does not import store/db.py, which imports the
migrations, which import the models: no import circle, even counting imports in functions.
"""

import peewee

database = peewee.DatabaseProxy()

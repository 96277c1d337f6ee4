"""The reference backend, ``voicefsm backend``: contract v1 served by FastAPI over SQLAlchemy
(SQLite or PostgreSQL). It is apart from the agent side and installed with it only as the
``backend`` extra (``pip install 'voicefsm[backend]'``); only the commands that run it import
it."""

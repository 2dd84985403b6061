"""Session logs on the laptop: from the device into the store, and out as reports and files.

`sync` (pull new sessions over any link: nothing lost, nothing duplicated), `store` (the local
SQLite store), `logs` (decode and check a raw session file, salvage what is good), `report`
(a session's figures), `plot` (its charts), `export` (CSV, JSON, FIT) and `fit` (the FIT encoder).
"""

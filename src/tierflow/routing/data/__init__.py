"""Recorded outcomes: the table every router reads (:mod:`.outcomes`), its file formats (:mod:`.formats`,
:mod:`.long_format`), the held-out split (:mod:`.split`) and recording new outcomes (:mod:`.record`)."""

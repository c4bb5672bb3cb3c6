"""What routers read: prompt embeddings (:mod:`.embed`, with the int8 model build in :mod:`.minilm_graph`),
the text a router embeds and a prompt's surface features (:mod:`.prompts`), per-task boilerplate
(:mod:`.boilerplate`), and what a recorded response says (:mod:`.answers`, :mod:`.code_behaviour`)."""

"""Machine-oriented evaluation on frozen features: extraction through a chunked cache
(:mod:`.features`, :mod:`.feature_store`), retrieval mAP (:mod:`.retrieval`), DINOv2-protocol
linear probes (:mod:`.probe`), across meta-categories (:mod:`.meta`), PGD robustness
(:mod:`.robustness`) and origin vs aligned (:mod:`.alignment`). No pytest here."""

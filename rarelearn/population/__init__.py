"""Members trained together: the vmapped programs (``vmapped``), the MLP and transformer
training steps (``mlp_training``, ``lm_training``), layouts and sharding, the in-chunk
measurements (``measure_step``), the interventions on the update (``interventions``), a
``families.base.Family`` with the member axis added (``family_population``), and the two
populations written for their families before that interface (``mlp_sweep``, ``ladder``, with
the ladder's ``planner``). Never imports a family: a family hands itself in."""

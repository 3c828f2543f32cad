"""The bottom layer: the config rule language (``rules``), loading and checking configs
(``configlib``) and the optimizers (``optim``). Imports nothing else of rarelearn."""

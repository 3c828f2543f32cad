"""Running a population: the one host loop (``loop``), its workdir files (``workdir``), the
history of a run's rows (``history``), checkpoints (``checkpoint``) and processes (``hosts``).
Imports only ``core``; the population it drives is passed in."""

"""Reading results: the ONE learned-step rule and frontier (``results``), claims with their
intervals and p-values (``claims``), the utility theory (``theory``) and plots (``plots``)."""

"""Developer tools, not part of the runtime package (not in the wheel): ``python -m devtools.soak``
(abuse soak) and ``python -m devtools.crash`` (kill/resume crash soak). They may import anything
in universed. The daemon benchmark is in the package (``python -m universed.bench``): operators
measure their own machine with it."""

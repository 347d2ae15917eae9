"""Developer tools, not part of the runtime package (not in the wheel): ``python -m devtools.bench``
(daemon throughput), ``python -m devtools.soak`` (abuse soak), ``python -m devtools.crash``
(kill/resume crash soak). They may import anything in universed."""

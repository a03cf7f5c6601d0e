"""TCUP: test, collect, upload, publish.

Prove an OpenStack cloud's interoperability against an interop guideline.
Every stage of the pipeline is a plain function in its own module, so the
pipeline is usable as a library as well as through the ``tcup`` command.
"""

__version__ = "0.1.0"

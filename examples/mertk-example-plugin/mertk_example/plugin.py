"""Hook implementations: mertk calls these to learn what this package provides.

The factories are given as "module:attribute" strings so mertk imports torch only when a
component is actually used.
"""

import mertk


@mertk.hookimpl
def register_attentions(register):
    register("eca", "mertk_example.modules:ECA")


@mertk.hookimpl
def register_losses(register):
    register("poly1", "mertk_example.modules:Poly1Loss")

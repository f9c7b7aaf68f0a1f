"""``python -m dill.trace``: run a program under a tracer that writes Chrome trace JSON.

``ChromeTracer`` is the tracer (``dill.add_tracer`` it yourself to trace part
of a program); ``dill.trace.render.render_png`` draws its output as a PNG
timeline.  See ``__main__`` for the command line.
"""

from ._chrome import ChromeTracer

__all__ = ["ChromeTracer"]

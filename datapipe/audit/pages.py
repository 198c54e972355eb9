"""The audit's HTML pages: Jinja2 templates in ``datapipe/audit/templates/`` (autoescaped, so a
task string or a file name from a dataset is always text, never markup; an undefined name in a
template is an error, not an empty string)."""

from __future__ import annotations

import base64
import functools
import io
from importlib import resources
from typing import Any

import numpy as np


@functools.cache
def _environment() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("datapipe.audit", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def render(template: str, **context: Any) -> str:
    """The text of ``templates/<template>`` filled with ``context``."""
    return _environment().get_template(template).render(**context)


def stylesheet() -> str:
    """``templates/report.css``, inlined by the report (it fetches nothing)."""
    return resources.files("datapipe.audit").joinpath("templates", "report.css").read_text()


def png_data_uri(image: np.ndarray) -> str:
    """An RGB ``uint8`` image (H, W, 3) as a ``data:image/png;base64,...`` URI."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()

"""Self-contained HTML pages (model cards, validation reports): one house style, rendered
by Jinja2 with autoescaping and undefined names as errors; no scripts, no external URLs."""

from __future__ import annotations

from typing import Any

__all__ = ["BASE_CSS", "render_page"]

BASE_CSS = """body{font-family:system-ui,-apple-system,sans-serif;max-width:64rem;margin:2rem auto;
padding:0 1rem;color:#1f2328;line-height:1.5}
h1{border-bottom:1px solid #d0d7de;padding-bottom:.3rem}h2{margin-top:2rem;
border-bottom:1px solid #d0d7de}table{border-collapse:collapse;margin:.5rem 0 1rem}
td,th{border:1px solid #d0d7de;padding:.25rem .6rem;text-align:left;font-size:.9rem;
vertical-align:top}th{background:#f6f8fa}code{background:#f6f8fa;padding:.1rem .3rem}"""
"""The style every page shares; a page's template adds its own rules after
``{{ base_css }}`` in its ``<style>``."""


def render_page(template: str, **context: Any) -> str:
    """Render a page ``template`` with ``context`` (and ``base_css``)."""
    import jinja2
    from markupsafe import Markup

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    # BASE_CSS is our own constant: safe to insert unescaped
    return env.from_string(template).render(base_css=Markup(BASE_CSS), **context)

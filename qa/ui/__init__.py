"""The browser chat, in three parts: `texts` (what the page says), `render` (pure HTML from
`Answer` and `Article`) and `app` (the Gradio wiring and `serve`).

Only `app` imports Gradio, so the rendering can be tested (and reused) without it.
"""

"""The browser chat's entry point: ask the archive, read quoted and cited snippets, open the
cited article. The chat itself lives in `qa/ui/` (texts, rendering, Gradio wiring).

    python ui.py --index index        # or: qa serve
"""

from qa.ui.app import build_app, main, serve

__all__ = ["build_app", "serve"]

if __name__ == "__main__":
    main()

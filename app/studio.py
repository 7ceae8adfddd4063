"""The Gradio web app: one tab per job to be done, each built by its module in app/pages/.

Handlers only call `core/` and go through the error edge in app/handlers.py; per-browser state
lives in gr.State, shared state in the store.
"""

from __future__ import annotations

import gradio as gr

from app.context import StudioContext
from app.handlers import on
from app.pages import adapt, datasets, evaluate, judge, review, team
from app.pages.review.assets import KEYBOARD_JS, REVIEW_CSS
from app.render import CODE_CSS
from app.widgets import header_text

# Signing out happens in the tab the person is in (Gradio opens a Markdown link in a new tab, which
# left the studio open and signed in beside the login page); a session that ended says so once.
SIGN_OUT_JS = """
<script>
document.addEventListener('click', (event) => {
  const link = event.target.closest && event.target.closest('#studio-header a[href$="logout"]');
  if (!link) return;
  event.preventDefault();
  event.stopPropagation();
  window.location.assign(link.getAttribute('href'));
}, true);
// A session that ended (signed out elsewhere, expired, the server restarted with other logins)
// makes every event answer 401: one line says so, instead of an error badge on every component.
const signedOut = () => {
  if (document.getElementById('signed-out')) return;
  const line = document.createElement('div');
  line.id = 'signed-out';
  line.setAttribute('role', 'alert');
  line.style.cssText = 'position:fixed;bottom:0;left:0;right:0;z-index:1000;padding:8px;text-align:center;' +
    'background:#fde68a;color:#111;font-weight:600';
  line.innerHTML = 'You were signed out. <a href="/login">Sign in again</a> (your saved reviews are kept).';
  document.body.appendChild(line);
};
const fetched = window.fetch;
window.fetch = async (...args) => {
  const response = await fetched(...args);
  if (response.status === 401 && !document.querySelector('input[type=password]')) signedOut();
  return response;
};
</script>
"""
# Passed to launch(head=...): the review page's keys and layout, signing out, the colours of code.
HEAD = KEYBOARD_JS + REVIEW_CSS + SIGN_OUT_JS + CODE_CSS
# Events of one kind served at once. Gradio's default is one, across everyone: one person's slow
# save held up a colleague's label. The store arbitrates what must not overlap (optimistic
# concurrency, job claims, the judging and refit locks in StudioContext).
CONCURRENT_EVENTS = 16


def build_studio(ctx: StudioContext) -> gr.Blocks:
    with gr.Blocks(title="GRAM Studio", fill_width=True) as studio:
        header = gr.Markdown(elem_id="studio-header")  # filled for the signed-in person on load

        def shown_header(request: gr.Request) -> str:
            return header_text(ctx, request)

        on(studio.load, shown_header, None, header, api_name="header")
        with gr.Tab("Review", id="review", elem_id="review-tab"):
            review.build(ctx, studio)
        with gr.Tab("Team", id="team"):
            team.build(ctx, studio)
        with gr.Tab("Datasets", id="datasets"):
            datasets.build(ctx, studio)
        with gr.Tab("Judge", id="judge"):
            judge.build(ctx, studio)
        with gr.Tab("Adapt", id="adapt"):
            adapt.build(ctx, studio, header)
        with gr.Tab("Evaluate", id="evaluate"):
            evaluate.build(ctx, studio)
    studio.queue(default_concurrency_limit=CONCURRENT_EVENTS)
    return studio


__all__ = ["HEAD", "StudioContext", "build_studio"]

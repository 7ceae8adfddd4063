"""What the Review page adds to the browser: its keyboard shortcuts and its one-screen layout.

Both go into the page's <head> (app/studio.py passes them to launch(head=...)).
"""

from __future__ import annotations

SHORTCUTS = (
    "Keys: **a** / **b** / **t** label A, B, tie · **s** skip (not judgeable) · **Enter** accept the model's label · "
    "**e** edit the rationale (**Ctrl+Enter** saves) · **g** tags, **n** note (**Ctrl+Enter** saves both) · "
    "**Esc** leaves a box · **z** undo · **y** redo · **j** / **k** next / previous pair"
)

# Keyboard shortcuts: each key clicks a button by its element id. They act only while the Review
# page is visible (a key pressed on another tab must not label a pair nobody sees) and nothing that
# takes keys has focus: typing in a text box is left alone, and a focused button or tab keeps its
# own Enter and Space (but not the letters: after a click, a key acts on the pair). A box that
# sent itself (Enter in the skip reason, Ctrl+Enter in the rationale, tags or note) lets go of the
# focus, so the next key acts on the next pair.
# A new pair shown (the header names another pair) is brought into view when it is out of sight:
# the page goes back to its first screen, which holds the whole pair view.
KEYBOARD_JS = """
<script>
document.addEventListener('keydown', (event) => {
  const page = document.getElementById('review-tab');
  if (!page || page.offsetParent === null) return;
  const target = event.target;
  const typing = target && (['TEXTAREA', 'INPUT', 'SELECT'].includes(target.tagName) || target.isContentEditable);
  const click = (id) => { const el = document.getElementById(id); if (el) { event.preventDefault(); el.click(); } };
  if (typing) {
    const ctrlEnter = event.key === 'Enter' && (event.ctrlKey || event.metaKey);
    if (ctrlEnter && target.closest('#rationale-box')) { click('key-save-rationale'); target.blur(); }
    if (ctrlEnter && target.closest('#tags-box, #note-box')) { click('key-save-meta'); target.blur(); }
    if (event.key === 'Enter' && !ctrlEnter && target.closest('#skip-reason')) setTimeout(() => target.blur(), 0);
    if (event.key === 'Escape') target.blur();
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const onControl = target && target.closest && target.closest('button, a, [role=button], [role=tab], [role=option]');
  if (onControl && (event.key === 'Enter' || event.key === ' ')) return;
  const keys = {a: 'key-a', b: 'key-b', t: 'key-tie', s: 'key-skip', Enter: 'key-accept', z: 'key-undo',
                y: 'key-redo', j: 'key-next', k: 'key-prev'};
  const boxes = {e: '#rationale-box textarea', g: '#tags-box textarea, #tags-box input',
                 n: '#note-box textarea, #note-box input'};
  if (boxes[event.key]) {
    const box = document.querySelector(boxes[event.key]);
    // Into the box without jumping: the page scrolls only as far as needed to show it.
    if (box) { event.preventDefault(); box.focus({preventScroll: true}); box.scrollIntoView({block: 'nearest'}); }
    return;
  }
  if (keys[event.key]) click(keys[event.key]);
});
let shownPair = null;
const watchHeader = () => {
  const header = document.getElementById('pair-header');
  if (!header) { setTimeout(watchHeader, 500); return; }
  new MutationObserver(() => {
    const title = header.querySelector('h3');
    const pair = title ? title.textContent : null;
    if (pair === shownPair) return;
    shownPair = pair;
    const top = header.getBoundingClientRect().top;
    const away = top < 0 || top > window.innerHeight * 0.5;
    if (header.offsetParent !== null && away) window.scrollTo({top: 0});  // the page's first screen
  }).observe(header, {childList: true, subtree: true, characterData: true});
};
watchHeader();
// Whether the rationale box is on screen (its first lines, with text in it), kept in a hidden box
// that every label event sends: a model rationale becomes a training target only where it was.
const rationaleOnScreen = () => {
  const box = document.querySelector('#rationale-box textarea');
  if (!box || !box.value.trim() || box.offsetParent === null) return false;
  const r = box.getBoundingClientRect();
  const visible = Math.min(r.bottom, window.innerHeight) - Math.max(r.top, 0);
  return visible >= Math.min(r.height, 40);
};
setInterval(() => {
  const page = document.getElementById('review-tab');
  const input = document.querySelector('#rationale-seen textarea, #rationale-seen input');
  if (!page || !input) return;
  const value = page.offsetParent !== null && rationaleOnScreen() ? 'seen' : '';
  if (input.value === value) return;
  const setter = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(input), 'value').set;
  setter.call(input, value);
  input.dispatchEvent(new Event('input', {bubbles: true}));
}, 200);
</script>
"""

# One screen per pair at 1366x768 (with the heights set on the page's boxes): a compact header, and
# an action bar that sticks to the bottom of the window, and to its top once scrolled past.
REVIEW_CSS = """
<style>
#review-tab #pair-header h3 { margin: 0 0 2px 0; font-size: 1.05em; }
#review-tab #pair-header p { margin: 0; }
#review-tab .gram-md p { margin: 0.2em 0; }
#review-main .html-container.label-padding { padding-top: 22px; }
/* Gradio's container clips with overflow: hidden, which makes it the bar's scroll container, and a
   sticky bar then never moves with the window; clip clips the same without being one. */
.gradio-container { overflow: clip !important; }
#review-main { align-self: stretch !important; }  /* as tall as the queue column: the bar sticks all along */
#review-actions { position: sticky; bottom: 0; top: 0; z-index: 20; background: var(--background-fill-primary);
                  padding: 4px 0; gap: 6px; }
#review-actions { flex-wrap: nowrap; }
#review-actions button { min-width: 0; padding: 4px 6px; white-space: nowrap; }
#review-progress p { margin: 0; }
.gram-hidden { display: none !important; }
.conversation .turn { border-left: 3px solid var(--border-color-primary); padding: 2px 8px; margin: 4px 0; }
.conversation .turn-user { border-left-color: var(--color-accent); }
.conversation .turn-assistant { border-left-color: var(--neutral-400); background: var(--background-fill-secondary); }
.conversation .turn-role { font-weight: 600; font-size: 0.85em; opacity: 0.8; }
</style>
"""

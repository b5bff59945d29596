// The composer page's own helpers, called from its events (app.py passes them as `js=`).
//
// - toResult: on a narrow screen the result sits above the inputs; after Compose, bring it into view.
// - shareLink: turn the "#tune=..." fragment the server packed into a full link, and put it in the
//   address bar too, so reloading or bookmarking the page keeps the tune.
(() => {
  const NARROW = "(max-width: 760px)";

  function toResult() {
    if (!window.matchMedia(NARROW).matches) return;
    const target = document.querySelector("#status") || document.querySelector("#outputs");
    if (target) target.scrollIntoView({ block: "start", behavior: "instant" });
  }

  function shareLink(fragment) {
    if (!fragment || fragment.charAt(0) !== "#") return fragment;
    const url = window.location.origin + window.location.pathname + window.location.search + fragment;
    try {
      window.history.replaceState(null, "", fragment);
    } catch (e) {
      // a sandboxed frame may refuse; the link in the box still works
    }
    return url;
  }

  window.abcgen = { toResult, shareLink };
})();

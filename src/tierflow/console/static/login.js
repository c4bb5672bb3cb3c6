// The sign-in page: says when the one-time token can no longer sign in, shows why the last sign-in
// failed (the server redirects here with ?failed=<code>), and signs in with the link `tierflow serve`
// prints (/ui/login#token=...: a fragment, never sent to the server). Plain text only.
"use strict";
(function () {
  const code = new URLSearchParams(window.location.search).get("failed");
  const token = new URLSearchParams(window.location.hash.slice(1)).get("token");
  if (token) history.replaceState(null, "", window.location.pathname + window.location.search);  // off the address bar
  if (token && !code) {
    document.getElementById("secret").value = token;
    document.querySelector("form").submit();
    return;
  }
  fetch("/ui/login/state", { headers: { "Accept": "application/json" } }).then((r) => r.json()).then((state) => {
    const spent = {
      used: "The token printed at start has been used; restart tierflow serve for a new one, or set TIERFLOW_ADMIN_KEY.",
      locked: "The token printed at start no longer works (too many failed sign-ins); restart tierflow serve for a new one, or set TIERFLOW_ADMIN_KEY.",
    }[state.token];
    const notice = document.getElementById("login-notice");
    notice.textContent = spent || "";
    notice.hidden = !spent;
  }).catch(() => { /* the form works without it */ });
  if (!code) return;
  const box = document.getElementById("login-error");
  box.textContent = code === "console_disabled"
    ? "The console is off: set TIERFLOW_ADMIN_KEY for tierflow serve to use it beyond loopback."
    : "Wrong admin key or login token (the one-time token works once; restart tierflow serve for a new one).";
  box.hidden = false;
})();

// The sign-in page: shows why the last sign-in failed (the server redirects here with ?failed=<code>),
// and signs in with the link `tierflow serve` prints (/ui/login#token=...: a fragment, never sent to the server).
"use strict";
(function () {
  const code = new URLSearchParams(window.location.search).get("failed");
  const token = new URLSearchParams(window.location.hash.slice(1)).get("token");
  if (token) history.replaceState(null, "", window.location.pathname + window.location.search);  // off the address bar
  if (!code) {
    if (token) {
      document.getElementById("secret").value = token;
      document.querySelector("form").submit();
    }
    return;
  }
  const box = document.getElementById("login-error");
  box.textContent = code === "console_disabled"
    ? "The console is off: set TIERFLOW_ADMIN_KEY for tierflow serve to use it beyond loopback."
    : "Wrong admin key or login token (the one-time token works once; restart tierflow serve for a new one).";
  box.hidden = false;
})();

// Shows why the last sign-in failed (the server redirects here with ?failed=<code>).
"use strict";
(function () {
  const code = new URLSearchParams(window.location.search).get("failed");
  if (!code) return;
  const box = document.getElementById("login-error");
  box.textContent = code === "console_disabled"
    ? "The console is off: set TIERFLOW_ADMIN_KEY for `tierflow serve` to use it beyond loopback."
    : "Wrong admin key or login token (the one-time token works once; restart `tierflow serve` for a new one).";
  box.hidden = false;
})();

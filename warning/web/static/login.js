// The login page: show the failure notice after a refused attempt (strings: common.js).
"use strict";
W.start(() => {
  if (new URLSearchParams(location.search).has("failed")) {
    document.getElementById("login-error").hidden = false;
    document.getElementById("password").focus();
  }
});

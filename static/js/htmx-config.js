// htmx settings, kept out of the markup so that the Content-Security-Policy needs no inline code.
// Loaded right after htmx and before the page is ready, which is when htmx reads them.
(function () {
  "use strict";
  if (!window.htmx) return;
  var config = window.htmx.config;
  // 204 swaps nothing; 2xx/3xx swap; 4xx swap their error fragment (a form with its errors);
  // 5xx are errors and swap nothing.
  config.responseHandling = [
    { code: "204", swap: false },
    { code: "[23]..", swap: true },
    { code: "4..", swap: true, error: false },
    { code: "5..", swap: false, error: true },
  ];
  // htmx would otherwise inject a <style> element for its indicators, which the policy blocks;
  // static/css/app.css has those rules.
  config.includeIndicatorStyles = false;
  // Nothing of the app evaluates code from attributes (hx-on, js: values).
  config.allowEval = false;
  config.allowScriptTags = false;
})();

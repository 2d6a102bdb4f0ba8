"""Files the app serves: the tracking snippet (t.src.js, minified into t.min.js) and the demo."""

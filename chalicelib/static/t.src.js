/* Autofunnel tracking snippet, served minified as /t.js (rebuild: python -m chalicelib.static.build).
 *
 * autofunnel.identify([userId], [traits], [{userHash}]) / track(event, [properties])
 * / page([name], [properties]). userHash: hex HMAC-SHA256 of the user id (or email) with the
 * identity secret, computed by the shop's server; without it, what the page says is a claim.
 * Calls made before this file loads wait in the stub array and are replayed in order.
 * Events queue in localStorage with a messageId each, go out in batches, one request at a time
 * (fetch keepalive, or sendBeacon when the page is hidden) and stay queued until the API accepts
 * them: a retry never duplicates, because the API stores each messageId once.
 * Automatic: page views (also single-page-app navigations), UTM campaign and referrer, clicks on
 * [data-af-event] elements, and emails/phones typed into forms (identify on leaving the field;
 * never password or payment fields; a form opts out with data-af-capture="off").
 * Messenger deep links: telegramLink() resolves to https://t.me/<bot>?start=<signed token> for
 * this visitor, and every <a data-af-telegram> gets that href, so the bot's /start links the
 * chat to the contact that browsed the site.
 * On-site messages: polled from /v1/onsite on load, shortly after events were accepted and
 * every 30 s while the page is visible; shown as a popup, banner or chat bubble built with
 * createElement and text nodes (never innerHTML), styled through the CSSOM (no inline <style>),
 * so a strict Content-Security-Policy needs only connect-src for the API. What the visitor
 * does with them (shown, clicked, dismissed, submitted) goes back with the next poll.
 */
(function (w, d) {
  "use strict";
  var stub = w.autofunnel;
  if (stub && stub.loaded) return;
  var VERSION = "1.0.0";
  var SESSION_MS = 30 * 60 * 1000;
  var MAX_QUEUE = 200;
  var BATCH = 50;
  var MAX_BODY = 60000; // keepalive requests may carry 64 KB at most
  var script = d.currentScript || d.querySelector('script[src*="/t.js"]');
  var api = script ? script.src.replace(/\/t\.js(\?.*)?$/, "") : "";
  var key = (stub && stub.key) || (script && script.getAttribute("data-key")) || "";
  var store = w.localStorage;
  var inFlight = {};
  var timer = null;
  var backoff = 0;
  var lastUrl = "";
  var referrer = d.referrer;

  function get(name) {
    try {
      return store.getItem("af_" + name);
    } catch (e) {
      return null;
    }
  }
  function set(name, value) {
    try {
      if (value == null) store.removeItem("af_" + name);
      else store.setItem("af_" + name, value);
    } catch (e) {}
  }
  function cookie(name, value) {
    if (value === undefined) {
      var match = d.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
      return match ? decodeURIComponent(match[1]) : null;
    }
    d.cookie = name + "=" + encodeURIComponent(value) + "; path=/; max-age=63072000; SameSite=Lax";
  }
  function uuid() {
    if (w.crypto && w.crypto.randomUUID) return w.crypto.randomUUID();
    return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, function (c) {
      var r = (Math.random() * 16) | 0;
      return (c == "x" ? r : (r & 3) | 8).toString(16);
    });
  }
  function now() {
    return new Date().toISOString();
  }

  // The anonymous id lives in a first-party cookie and in localStorage: either survives alone.
  function anonymousId() {
    var id = cookie("af_aid") || get("aid");
    if (!id) id = uuid();
    cookie("af_aid", id);
    set("aid", id);
    return id;
  }

  function session() {
    var state = JSON.parse(get("session") || "null");
    var t = Date.now();
    var start = !state || t - state.at > SESSION_MS;
    if (start) state = { id: t };
    state.at = t;
    set("session", JSON.stringify(state));
    return { id: state.id, start: start };
  }

  function campaign() {
    var found = {};
    var names = { source: 1, medium: 1, campaign: 1, term: 1, content: 1 };
    location.search
      .slice(1)
      .split("&")
      .forEach(function (pair) {
        var parts = pair.split("=");
        var name = decodeURIComponent(parts[0] || "").replace(/^utm_/, "");
        if (parts[0].indexOf("utm_") == 0 && names[name]) {
          found[name == "campaign" ? "name" : name] = decodeURIComponent(
            (parts[1] || "").replace(/\+/g, " ")
          );
        }
      });
    return found;
  }

  function pageInfo() {
    return {
      url: location.href,
      path: location.pathname,
      search: location.search,
      title: d.title,
      referrer: referrer
    };
  }

  function queue(change) {
    var items = JSON.parse(get("queue") || "[]");
    if (change) {
      items = change(items).slice(-MAX_QUEUE);
      set("queue", JSON.stringify(items));
    }
    return items;
  }

  function enqueue(call) {
    var s = session();
    var context = {
      library: { name: "autofunnel.js", version: VERSION },
      page: pageInfo(),
      userAgent: navigator.userAgent,
      locale: navigator.language,
      sessionId: s.id
    };
    try {
      context.timezone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    } catch (e) {}
    var utm = campaign();
    if (Object.keys(utm).length) context.campaign = utm;
    if (s.start) context.sessionStart = true;
    call.messageId = uuid();
    call.anonymousId = anonymousId();
    if (get("uid")) call.userId = get("uid");
    if (get("uhash")) context.userHash = get("uhash");
    call.context = context;
    call.originalTimestamp = now();
    queue(function (items) {
      return items.concat([call]);
    });
    schedule(queue().length >= 20 ? 0 : 1000);
  }

  function schedule(delay) {
    clearTimeout(timer);
    timer = setTimeout(flush, delay);
  }

  function done(ids) {
    queue(function (items) {
      return items.filter(function (item) {
        return !ids[item.messageId];
      });
    });
  }

  // Send the oldest queued calls; `beacon` when the page is going away (no answer to wait for).
  // One request at a time: the API then sees a visitor's calls in order, and never two of their
  // first requests racing to create (and then merge) the same contact.
  function flush(beacon) {
    if (!beacon && Object.keys(inFlight).length) return;
    var batch = [];
    var ids = {};
    var size = 0;
    queue().some(function (item) {
      if (inFlight[item.messageId] && !beacon) return false;
      size += JSON.stringify(item).length;
      if (batch.length >= BATCH || (batch.length && size > MAX_BODY)) return true;
      batch.push(item);
      ids[item.messageId] = 1;
    });
    if (!batch.length || !key) return;
    var body = JSON.stringify({ batch: batch, writeKey: key, sentAt: now() });
    var url = api + "/v1/batch";
    if (beacon === true && navigator.sendBeacon) {
      if (navigator.sendBeacon(url, new Blob([body], { type: "text/plain" }))) done(ids);
      return;
    }
    if (!w.fetch) return;
    for (var id in ids) inFlight[id] = 1;
    // text/plain: a simple CORS request, no preflight round trip.
    w.fetch(url, {
      method: "POST",
      body: body,
      keepalive: true,
      credentials: "omit",
      headers: { "Content-Type": "text/plain" }
    })
      .then(function (response) {
        // 4xx other than 429 will never succeed: drop those calls instead of retrying forever.
        if (response.ok || (response.status < 500 && response.status != 429)) return 1;
      })
      .catch(function () {})
      .then(function (accepted) {
        for (var id in ids) delete inFlight[id];
        if (accepted) {
          done(ids);
          backoff = 0;
          if (queue().length) schedule(0);
          else poll(2000); // the events may have started a funnel that shows something
        } else {
          backoff = Math.min(backoff ? backoff * 2 : 1000, 60000);
          schedule(backoff);
        }
      });
  }

  // identify([userId], [traits], [{userHash}]): the hash (computed by the shop's server) proves
  // who is signed in; it rides on every later call of that user, so their orders count.
  function identify(userId, traits, options) {
    if (userId && typeof userId == "object") {
      options = traits;
      traits = userId;
      userId = null;
    }
    var hash = options && options.userHash;
    if (userId != null) {
      if (get("uid") != String(userId) || hash) set("uhash", hash);
      set("uid", String(userId));
    } else if (hash) set("uhash", hash);
    enqueue({ type: "identify", traits: traits || {} });
  }

  function track(event, properties) {
    enqueue({ type: "track", event: event, properties: properties || {} });
  }

  function page(name, properties) {
    if (name && typeof name == "object") {
      properties = name;
      name = null;
    }
    var props = pageInfo();
    for (var k in properties || {}) props[k] = properties[k];
    var call = { type: "page", properties: props };
    if (name) call.name = name;
    enqueue(call);
    lastUrl = location.href;
  }

  // One signed deep link per page view (and anonymous id); a failure lets the next call retry.
  var links = null;
  function deeplinks() {
    links =
      links ||
      w
        .fetch(api + "/v1/deeplink", {
          method: "POST",
          credentials: "omit",
          headers: { "Content-Type": "text/plain" },
          body: JSON.stringify({ writeKey: key, anonymousId: anonymousId() })
        })
        .then(function (response) {
          if (!response.ok) throw Error("deeplink " + response.status);
          return response.json();
        })
        .then(function (body) {
          return body.links;
        })
        .catch(function (error) {
          links = null;
          throw error;
        });
    return links;
  }
  function telegramLink() {
    return deeplinks().then(function (found) {
      return found.telegram;
    });
  }
  function wireLinks() {
    var anchors = d.querySelectorAll("[data-af-telegram]");
    if (anchors.length && w.fetch)
      telegramLink()
        .then(function (url) {
          [].forEach.call(anchors, function (a) {
            if (url) a.href = url;
          });
        })
        .catch(function () {});
  }

  function reset() {
    links = null;
    set("uid", null);
    set("uhash", null);
    set("aid", null);
    set("seen", null);
    set("dk", null);
    cookie("af_aid", uuid());
    cookie("af_dk", uuid());
  }

  // --- On-site messages ------------------------------------------------------------------
  // The device key is this browser's own secret, sent to the poll only: the anonymous id
  // travels (events, carts, deep links), so it alone must not open a visitor's messages.
  var POLL_MS = 30000;
  var pollTimer = null;
  var reports = [];
  var shown = {};
  var TAGS = /^(p|br|b|strong|i|em|u|small|a|ul|ol|li|span|h3|h4)$/;
  var HREF = /^(https?:|mailto:|tel:|\/(?!\/))/i;
  var FONT = "font:15px/1.4 system-ui,sans-serif;color:#1d2330;";
  var BOX = {
    popup: "position:relative;background:#fff;border-radius:12px;padding:24px;max-width:360px;width:90%;box-shadow:0 8px 32px #0004;",
    banner: "position:fixed;top:0;left:0;right:0;background:#fff;padding:12px 48px 12px 16px;box-shadow:0 2px 12px #0003;z-index:2147483000;",
    chat: "position:fixed;right:16px;bottom:16px;background:#fff;border-radius:16px 16px 4px 16px;padding:16px 36px 16px 16px;max-width:300px;box-shadow:0 4px 24px #0004;z-index:2147483000;"
  };
  var BUTTON = "font:inherit;margin:8px 8px 0 0;padding:8px 14px;border:0;border-radius:8px;background:#3b5bdb;color:#fff;cursor:pointer;";

  function deviceKey() {
    var k = cookie("af_dk") || get("dk") || uuid();
    cookie("af_dk", k);
    set("dk", k);
    return k;
  }
  function pollBody() {
    var sent = reports;
    reports = [];
    return [sent, JSON.stringify({ writeKey: key, anonymousId: anonymousId(), deviceKey: deviceKey(), reports: sent })];
  }
  function poll(delay) {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(function () {
      if (d.visibilityState == "hidden" || !w.fetch || !key) return; // resumed when visible
      var body = pollBody();
      w.fetch(api + "/v1/onsite", {
        method: "POST",
        body: body[1],
        credentials: "omit",
        headers: { "Content-Type": "text/plain" }
      })
        .then(function (response) {
          if (!response.ok) throw Error("onsite " + response.status);
          return response.json();
        })
        .then(function (answer) {
          self.polls++;
          (answer.messages || []).forEach(showMessage);
        })
        .catch(function () {
          reports = body[0].concat(reports); // told next time
        })
        .then(function () {
          poll(POLL_MS);
        });
    }, delay);
  }
  // Going to another page: the report leaves with the page (no answer to wait for).
  function report(id, action, extra, leaving) {
    var entry = { id: id, action: action };
    for (var k in extra || {}) entry[k] = extra[k];
    reports.push(entry);
    if (leaving && navigator.sendBeacon) {
      navigator.sendBeacon(api + "/v1/onsite", new Blob([pollBody()[1]], { type: "text/plain" }));
    } else poll(0);
  }

  function node(tag, css, text) {
    var e = d.createElement(tag);
    if (css) e.style.cssText = css; // the CSSOM: allowed under a strict style-src
    if (text) e.textContent = text;
    return e;
  }
  function build(parent, nodes, onLink) {
    (nodes || []).forEach(function (n) {
      if (typeof n == "string") return parent.appendChild(d.createTextNode(n));
      if (!TAGS.test(n[0])) return build(parent, n.slice(2), onLink);
      var e = d.createElement(n[0]);
      var href = n[1] && n[1].href;
      if (n[0] == "a" && href && HREF.test(href)) {
        e.href = href;
        e.addEventListener("click", function () {
          onLink(href);
        });
      }
      build(e, n.slice(2), onLink);
      parent.appendChild(e);
    });
  }

  function showMessage(m) {
    if (shown[m.id] || !d.body) return;
    shown[m.id] = 1;
    var style = BOX[m.style] ? m.style : "popup";
    var box = node("div", FONT + BOX[style]);
    var root = box;
    if (style == "popup") {
      root = node("div", "position:fixed;inset:0;background:#0006;display:flex;align-items:center;justify-content:center;z-index:2147483000;");
      root.appendChild(box);
    }
    root.id = "af-message-" + m.id;
    root.setAttribute("data-af-message", m.id);
    box.setAttribute("role", style == "banner" ? "region" : "dialog");
    function close(action, extra, leaving) {
      if (root.parentNode) root.parentNode.removeChild(root);
      report(m.id, action, extra, leaving);
    }
    function clicked(url, button) {
      close("clicked", { url: url, button: button }, true);
    }
    var x = node("button", "position:absolute;top:6px;right:8px;font:20px/1 sans-serif;background:none;border:0;cursor:pointer;color:#5c667a;", "\u00d7");
    x.setAttribute("aria-label", "Close");
    x.setAttribute("data-af-close", "");
    x.addEventListener("click", function () {
      close("dismissed");
    });
    box.appendChild(x);
    if (m.title) box.appendChild(node("strong", "display:block;font-size:17px;margin-bottom:6px;", m.title));
    var body = node("div", "white-space:pre-line;");
    build(body, m.body, function (url) {
      clicked(url);
    });
    box.appendChild(body);
    (m.buttons || []).forEach(function (b, i) {
      var button = node("button", BUTTON, b.text);
      button.setAttribute("data-af-button", b.id || i);
      button.addEventListener("click", function () {
        if (b.url && HREF.test(b.url)) {
          clicked(b.url, i);
          location.href = b.url;
        } else {
          track("button_clicked", { channel: "onsite", button: b.id, message_id: m.id });
          close("clicked", { button: b.id });
        }
      });
      box.appendChild(button);
    });
    var c = m.capture;
    if (c) {
      var form = node("form", "margin-top:10px;");
      var input = node("input", "font:inherit;padding:8px;border:1px solid #c9cedb;border-radius:8px;width:100%;box-sizing:border-box;");
      input.type = c.field == "phone" ? "tel" : "email";
      input.name = c.field;
      input.required = true;
      input.placeholder = c.placeholder || "";
      form.appendChild(input);
      form.appendChild(node("button", BUTTON, c.button || "Send"));
      form.addEventListener("submit", function (e) {
        e.preventDefault();
        var traits = {};
        traits[c.field] = input.value.trim();
        identify(traits);
        close("submitted");
      });
      box.appendChild(form);
    }
    d.body.appendChild(root);
    report(m.id, "shown");
  }

  // Single-page apps: a history change to another URL (not just its #hash) is a page view.
  function onNavigate() {
    var strip = /#.*$/;
    if (location.href.replace(strip, "") != lastUrl.replace(strip, "")) {
      referrer = lastUrl;
      page();
    }
  }
  ["pushState", "replaceState"].forEach(function (name) {
    var original = history[name];
    history[name] = function () {
      var result = original.apply(this, arguments);
      onNavigate();
      return result;
    };
  });
  w.addEventListener("popstate", onNavigate);

  // Clicks on <el data-af-event="cart_updated" data-af-price="19.9">: the other data-af-*
  // attributes become properties (numbers stay numbers).
  d.addEventListener(
    "click",
    function (e) {
      var el = e.target.closest && e.target.closest("[data-af-event]");
      if (!el) return;
      var props = {};
      [].forEach.call(el.attributes, function (attr) {
        var m = attr.name.match(/^data-af-(.+)$/);
        if (m && m[1] != "event") {
          var v = attr.value;
          props[m[1].replace(/-/g, "_")] = /^-?\d+(\.\d+)?$/.test(v) ? parseFloat(v) : v;
        }
      });
      track(el.getAttribute("data-af-event"), props);
    },
    true
  );

  // Typed but not submitted: an email or phone left in a field identifies the visitor.
  var SENSITIVE = /pass|card|cc-|cvv|cvc|csc|iban|account|ssn|secret|pin/i;
  function capture(e) {
    var el = e.target;
    if (!el || el.tagName != "INPUT" || !el.value) return;
    if (el.closest('[data-af-capture="off"]')) return;
    var hint = [el.type, el.name, el.id, el.getAttribute("autocomplete")].join(" ");
    if (el.type == "password" || SENSITIVE.test(hint)) return;
    var value = el.value.trim();
    var trait = null;
    if (/email/i.test(hint) && /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value)) trait = "email";
    else if (/tel|phone/i.test(hint) && value.replace(/\D/g, "").length >= 7) trait = "phone";
    if (!trait || get("seen") == trait + ":" + value) return;
    set("seen", trait + ":" + value);
    var traits = {};
    traits[trait] = value;
    identify(traits);
  }
  d.addEventListener("change", capture, true);
  d.addEventListener("focusout", capture, true);

  function hidden() {
    flush(true);
  }
  w.addEventListener("pagehide", hidden);
  d.addEventListener("visibilitychange", function () {
    if (d.visibilityState == "hidden") hidden();
    else poll(0);
  });

  var self = (w.autofunnel = {
    loaded: true,
    key: key,
    api: api,
    identify: identify,
    track: track,
    page: page,
    reset: reset,
    flush: flush,
    anonymousId: anonymousId,
    telegramLink: telegramLink,
    polls: 0 // on-site polls answered so far
  });
  page();
  if (d.readyState == "loading")
    d.addEventListener("DOMContentLoaded", function () {
      wireLinks();
      poll(0);
    });
  else {
    wireLinks();
    poll(0);
  }
  // Replay the calls queued by the stub before this file arrived.
  if (stub && stub.length) {
    [].slice.call(stub).forEach(function (args) {
      var fn = self[args[0]];
      if (fn) fn.apply(self, args.slice(1));
    });
  }
  if (queue().length) schedule(0);
})(window, document);

/* Petanque Life status: refreshes from status/<lang>.json every 30 s, shows times in the visitor's time zone and
   warns when the data is stale. Data goes in through textContent only. The page works fully without this script. */
(function () {
  "use strict";
  var doc = document, root = doc.documentElement, lang = root.lang;
  var src = root.getAttribute("data-status");
  var staleMs = Number(root.getAttribute("data-stale-minutes") || 5) * 60000;
  var fmt = new Intl.DateTimeFormat(lang, {
    year: "numeric", month: "short", day: "numeric", hour: "numeric", minute: "2-digit", timeZoneName: "short"
  });
  var generated = null, skew = 0;

  function field(scope, name) { return scope.querySelector('[data-f="' + name + '"]'); }
  function code(value) { return /^[a-z0-9_]+$/.test(value) ? value : "unknown"; }

  function setText(el, text) {
    el.textContent = text ? text.value : "";
    if (text && text.lang) el.setAttribute("lang", text.lang); else el.removeAttribute("lang");
  }

  function localTime(el) {
    var at = new Date(el.getAttribute("datetime"));
    if (isNaN(at)) return;
    if (!el.title) el.title = el.textContent;  // the UTC reading stays at hand
    el.textContent = fmt.format(at);
  }

  function setTime(el, when) {
    el.setAttribute("datetime", when.iso);
    el.title = when.label;
    localTime(el);
  }

  function badge(node, name, label) {
    node.querySelector('[data-b="' + name + '"]').className = "badge b-" + code(label.code);
    field(node, name).textContent = label.label;
  }

  function card(template, inc) {
    var node = template.cloneNode(true), list, item;
    node.id = inc.id;
    setText(field(node, "title"), inc.title);
    badge(node, "severity", inc.severity);
    badge(node, "status", inc.status);
    setText(field(node, "message"), inc.message);
    list = field(node, "components");
    inc.components.forEach(function (c, n) {
      var span = doc.createElement("span");
      if (n) list.appendChild(doc.createTextNode(", "));
      setText(span, c);
      list.appendChild(span);
    });
    field(node, "components-row").hidden = !inc.components.length;
    setTime(field(node, "started"), inc.started);
    field(node, "resolved-row").hidden = !inc.resolved;
    if (inc.resolved) setTime(field(node, "resolved"), inc.resolved);
    list = node.querySelector('[data-list="updates"]');
    item = list.firstElementChild;
    list.textContent = "";
    inc.updates.forEach(function (u) {
      var li = item.cloneNode(true), message = field(li, "u-message");
      field(li, "u-status").textContent = u.status.label;
      setTime(field(li, "u-at"), u.at);
      setText(message, u.message);
      message.hidden = !u.message;
      list.appendChild(li);
    });
    field(node, "timeline").hidden = !inc.updates.length;
    return node;
  }

  function fill(name, items, build) {
    var list = doc.querySelector('[data-list="' + name + '"]');
    if (!list) return;
    list.textContent = "";
    items.forEach(function (item) { list.appendChild(build(item)); });
  }

  function apply(data) {
    var banner = field(doc, "overall"), tpl = doc.getElementById("tpl"), checked = field(doc, "checked");
    if (data.schema_version !== 1) return;
    generated = Date.parse(data.generated_at);
    if (banner) {
      banner.className = "banner s-" + code(data.overall.code);
      banner.textContent = data.overall.label;
    }
    if (tpl) {
      var incident = tpl.content.querySelector(".incident"), component = tpl.content.querySelector(".component");
      fill("components", data.components, function (c) {
        var li = component.cloneNode(true), condition = field(li, "condition");
        setText(field(li, "name"), c.display);
        condition.className = "cs c-" + code(c.status.code);
        condition.textContent = c.status.label;
        return li;
      });
      fill("active", data.active, function (inc) { return card(incident, inc); });
      fill("recent", data.recent, function (inc) { return card(incident, inc); });
      field(doc, "active-section").hidden = !data.active.length;
      field(doc, "recent-empty").hidden = data.recent.length > 0;
    }
    if (checked) {
      var at = doc.createElement("time");  // made here: the published page has no time to put in it
      setTime(at, {iso: data.generated_at, label: data.generated_at});
      field(checked, "generated").replaceChildren(at);
      checked.hidden = false;
    }
  }

  function checkStale() {
    var warning = field(doc, "stale");
    if (warning) warning.hidden = generated !== null && Date.now() + skew - generated <= staleMs;
  }

  function refresh() {
    fetch(src, {cache: "no-store"})
      .then(function (response) {
        var served = Date.parse(response.headers.get("Date"));
        if (!response.ok) throw new Error(response.status);
        skew = isNaN(served) ? 0 : served - Date.now();  // judge age by the server's clock, not the visitor's
        return response.json();
      })
      .then(apply)
      .catch(function () { /* keep what is shown; the stale warning tells */ })
      .then(checkStale);
  }

  Array.prototype.forEach.call(doc.querySelectorAll("time[datetime]"), localTime);
  if (src && window.fetch) {
    refresh();
    setInterval(refresh, 30000);
  }
})();

// Shows that the script arrived (and how the page's own request was answered).
(function () {
  var status = document.getElementById("status");
  fetch(location.href, { method: "HEAD" }).then(function (res) {
    status.textContent =
      "The script ran. This page: " + res.status + ", ETag " + res.headers.get("etag") +
      ", Last-Modified " + res.headers.get("last-modified") + ".";
  });
})();

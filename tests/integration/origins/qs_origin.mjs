// A Node origin for tests/integration/test_origin_parsers.py: it answers, as
// JSON, what Node's query parsers read as `tr` and the download parameter.
// Never deployed.
//
//   node qs_origin.mjs PORT DOWNLOAD_PARAM   (prints "ready PORT" when up)
//
// The parsers: qs.parse with its defaults (Express 4's and 5's "extended"
// query parser; parameterLimit 1000, depth 5, arrayLimit 20), qs.parse with
// allowDots (what many apps turn on), Node's querystring.parse (Express 5's
// default "simple" parser; maxKeys 1000) and URLSearchParams#get. GET any
// path: the readings of its query; POST /parse with a JSON list of queries:
// the readings of each, in one answer (the corpus check).
import http from "node:http";
import querystring from "node:querystring";
import qs from "qs";

const port = Number(process.argv[2]);
const download = process.argv[3] || "download";

// A value as JSON can say it (null for none); the error when the parser throws.
function reading(parse) {
  try {
    const p = parse();
    const get = (k) => (Object.prototype.hasOwnProperty.call(p, k) ? p[k] : null);
    return { tr: get("tr"), download: get(download) };
  } catch (e) {
    return { error: String(e && e.name) };
  }
}

function readings(q) {
  return {
    qs: reading(() => qs.parse(q)),
    qs_dots: reading(() => qs.parse(q, { allowDots: true })),
    querystring: reading(() => querystring.parse(q)),
    urlsearchparams: reading(() => {
      const u = new URLSearchParams(q);
      return { tr: u.get("tr"), [download]: u.get(download) };
    }),
  };
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    let body;
    const at = req.url.indexOf("?");
    if (req.method === "POST" && req.url === "/parse") {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8")).map(readings);
    } else {
      const q = at < 0 ? "" : req.url.slice(at + 1);
      const r = readings(q);
      body = { origin: "qs", tr: r.qs.tr, download: r.qs.download, readings: r, query: q };
    }
    const data = JSON.stringify(body);
    res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(data) });
    res.end(data);
  });
});
server.listen(port, "127.0.0.1", () => console.log(`ready ${port}`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));

// An HTTP/2-over-TLS client for test_h2_tls.py (node's http2 module, Debian's
// nodejs): the requests of a connection run on ONE connection, one after
// another, as a browser that keeps its connection (and coalesces other names
// onto it).
//
//   node h2client.js SPEC.json      prints a JSON list of results on stdout
//
// SPEC: a list of connections, made one after the other:
//       [{"connect": "https://127.0.0.1:PORT", "servername": SNI name or "",
//         "ca": PEM file, "push": accept server pushes (bool),
//         "cert", "key": a client certificate and its key (optional),
//         "requests": [{"headers": [[name, value], ...],
//                       "trailers": [[name, value], ...] (optional)}]}, ...]
// Header pairs go out in order, a name given twice as two fields (a
// browser's split `cookie`); pseudo-headers (":path", ":authority", ...) as
// given: node's defaults fill in the ones left out.
// Result of a connection: {"alpn", "responses": [{"status", "headers", "body",
//          "informational": [{"status", "link"}] (103 Early Hints)} or {"error"}],
//          "pushes": [{"path", "authority", "status", "body", "ended"}]}
// Bodies are latin1 strings (bytes as code points).
"use strict";
const fs = require("fs");
const http2 = require("http2");

function one(session, req) {
  return new Promise((resolve) => {
    const headers = {};
    for (const [k, v] of req.headers) {
      if (k in headers) headers[k] = [].concat(headers[k], v);
      else headers[k] = v;
    }
    let q;
    try {
      if (req.trailers) {
        // HEADERS, an empty DATA frame, then the trailers (END_STREAM)
        q = session.request(headers, { endStream: false, waitForTrailers: true });
        q.on("wantTrailers", () => q.sendTrailers(Object.fromEntries(req.trailers)));
        q.end();
      } else {
        q = session.request(headers, { endStream: true });
      }
    } catch (e) {
      resolve({ error: String(e.code || e) });
      return;
    }
    const r = { status: null, headers: {}, body: "", informational: [] };
    q.on("headers", (h) => r.informational.push({ status: h[":status"], link: h.link }));
    q.on("response", (h) => {
      r.status = h[":status"];
      for (const [k, v] of Object.entries(h)) if (!k.startsWith(":")) r.headers[k] = v;
    });
    q.setEncoding("latin1");
    q.on("data", (d) => (r.body += d));
    q.on("end", () => resolve(r));
    q.on("error", (e) => resolve({ error: String(e.code || e), status: r.status }));
    q.on("close", () => resolve(r.status === null ? { error: "closed " + q.rstCode } : r));
  });
}

function connection(spec) {
  return new Promise((done) => {
    const out = { alpn: null, responses: [], pushes: [] };
    const pending = new Set();
    const session = http2.connect(spec.connect, {
      ca: fs.readFileSync(spec.ca),
      servername: spec.servername || undefined,
      cert: spec.cert ? fs.readFileSync(spec.cert) : undefined,
      key: spec.key ? fs.readFileSync(spec.key) : undefined,
      settings: { enablePush: !!spec.push },
    });
    session.on("error", (e) => {
      out.session_error = String(e.code || e);
      done(out);
    });
    session.on("stream", (pushed, reqHeaders) => {
      // a server push: read it to its end before the session closes
      const p = { path: reqHeaders[":path"], authority: reqHeaders[":authority"], body: "" };
      out.pushes.push(p);
      const ended = new Promise((settle) => {
        const resolve = () => ((p.ended = true), settle());
        pushed.on("push", (h) => (p.status = h[":status"]));
        pushed.setEncoding("latin1");
        pushed.on("data", (d) => (p.body += d));
        pushed.on("end", resolve);
        pushed.on("error", (e) => ((p.error = String(e.code || e)), resolve()));
        pushed.on("close", resolve);
      });
      pending.add(ended);
    });
    session.on("connect", async () => {
      out.alpn = session.alpnProtocol;
      for (const req of spec.requests) out.responses.push(await one(session, req));
      // pushes promised on the last response arrive before it ends; give
      // their bodies a moment, then close
      await Promise.race([
        Promise.all([...pending]),
        new Promise((r) => setTimeout(r, 2000).unref()),
      ]);
      // a session the server ended (a TLS alert after the handshake reaches
      // the open stream, not the session) calls no close callback
      if (session.destroyed) done(out);
      else session.close(() => done(out));
    });
  });
}

const results = [];
let printed = false;
// node exits when nothing is left to wait for, also with a promise that
// never settled: say so and fail rather than print nothing with status 0
process.on("exit", () => {
  if (!printed) {
    process.stderr.write(`h2client.js: ended after ${results.length} connection(s) of the spec, ` +
                         "with a promise unsettled\n");
    process.exitCode = 3;
  }
});
(async () => {
  for (const spec of JSON.parse(fs.readFileSync(process.argv[2], "utf8")))
    results.push(await connection(spec));
  process.stdout.write(JSON.stringify(results));
  printed = true;
})();

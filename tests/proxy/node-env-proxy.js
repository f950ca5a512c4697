// Preload for Node < 24, which ignores HTTPS_PROXY for https.get:
//   node -r /path/node-env-proxy.js app.js
// Tunnels every https request of the default agent through CONNECT to the
// proxy in https_proxy / HTTPS_PROXY (NO_PROXY is not consulted: in
// sandspawn's network `proxy` there is no other way out). Node >= 24 needs
// none of this: NODE_USE_ENV_PROXY=1, which sandspawn sets, is enough.
const http = require("http");
const https = require("https");
const tls = require("tls");
const proxy = process.env.https_proxy || process.env.HTTPS_PROXY;
if (proxy) {
  const p = new URL(proxy);
  class TunnelAgent extends https.Agent {
    createConnection(opts, cb) {
      const target = `${opts.host}:${opts.port}`;
      const req = http.request({
        host: p.hostname, port: p.port || 80, method: "CONNECT", path: target,
        headers: { host: target },
      });
      req.once("connect", (res, socket) => {
        if (res.statusCode !== 200) {
          socket.destroy();
          cb(new Error(`proxy CONNECT ${target}: ${res.statusCode}`));
          return;
        }
        cb(null, tls.connect({ ...opts, socket, servername: opts.servername || opts.host }));
      });
      req.once("error", cb);
      req.end();
    }
  }
  https.globalAgent = new TunnelAgent({ keepAlive: false });
}

// Preloaded by wsgate into every Node.js worker (`node --require`), before the runtime
// interface client. A framework builds its management endpoint as
// https://{apiId}.execute-api.{region}.amazonaws.com/{stage}, a name that resolves to AWS.
// WSGATE_EXECUTE_API names each such host of the gateway and where the gateway listens
// ("host=address:port" pairs, comma-separated, IPv6 in brackets). A TLS connection to one
// of those hosts on port 443 is made to that address and port instead, still with the
// host as its server name, so the certificate is checked for it (the gateway's own,
// trusted through NODE_EXTRA_CA_CERTS). Every other connection is left as it was.
// tls.connect is where https, and so the AWS SDK v3's request handler, opens TLS sockets.
"use strict";

const tls = require("node:tls");
const { syncBuiltinESMExports } = require("node:module");

function parseTable(value) {
  const names = new Map();
  for (const pair of (value ?? "").split(",")) {
    const [host, target] = pair.trim().split("=", 2);
    if (!host || !target) continue;
    const colon = target.lastIndexOf(":");
    const address = target.slice(0, colon).replace(/^\[/, "").replace(/\]$/, "");
    const port = target.slice(colon + 1);
    if (colon > 0 && address && /^\d+$/.test(port)) {
      names.set(host.toLowerCase(), { address, port: Number(port) });
    }
  }
  return names;
}

const names = parseTable(process.env.WSGATE_EXECUTE_API);

// tls.connect(options[, callback]) or tls.connect(port[, host][, options][, callback]):
// the connection's options as one object, and the callback.
function asOptions(args) {
  const callback = typeof args[args.length - 1] === "function" ? args.pop() : undefined;
  if (args[0] !== null && typeof args[0] === "object") return { options: args[0], callback };
  if (typeof args[0] === "number" || /^\d+$/.test(String(args[0] ?? ""))) {
    const host = typeof args[1] === "string" ? args[1] : undefined;
    const rest = args.find((arg, i) => i > 0 && arg !== null && typeof arg === "object");
    return { options: { ...rest, port: args[0], ...(host === undefined ? {} : { host }) }, callback };
  }
  return undefined; // a unix socket path: never ours
}

if (names.size > 0) {
  const connect = tls.connect;
  tls.connect = function (...args) {
    const call = asOptions([...args]);
    const host = call && typeof call.options.host === "string" ? call.options.host : "";
    const target = names.get(host.toLowerCase().replace(/\.$/, ""));
    if (!target || Number(call.options.port ?? 443) !== 443) return connect.apply(this, args);
    const options = {
      ...call.options,
      host: target.address,
      port: target.port,
      servername: call.options.servername || host,
    };
    return call.callback ? connect.call(this, options, call.callback) : connect.call(this, options);
  };
  syncBuiltinESMExports(); // `import { connect } from "node:tls"` sees it too
}

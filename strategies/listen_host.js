// Node preload for NNI's manager: every TCP listen that names no host binds to TNAS_MANAGER_LISTEN.
//
// NNI 3.0's manager (nni_node/main.js) calls `app.listen(port)` for its REST API and web UI, and
// other servers (the reusable training services' WebSocket command channel, ...) listen the same way:
// Node then binds to every interface. Loaded with
//     NODE_OPTIONS="--require /path/to/listen_host.js" TNAS_MANAGER_LISTEN=127.0.0.1
// it patches net.Server.prototype.listen, which http.Server, express and ws all end up calling, so
// that each of those listens gets the host. A listen that names its own host, a Unix socket path or
// a handle is left alone. It only acts inside NNI's manager (argv[1] ends with nni_node/main.js), so
// other Node programs started with the same environment are untouched.
// Written and documented by tnas_plugin.strategies.manager_listen.
'use strict';

const net = require('net');
const path = require('path');

const host = process.env.TNAS_MANAGER_LISTEN;
const script = process.argv[1] ? path.resolve(process.argv[1]) : '';
const isManager = script.endsWith(path.join('nni_node', 'main.js'));

if (host && isManager && !net.Server.prototype.listen.tnasListenHost) {
  const originalListen = net.Server.prototype.listen;

  const isPort = (value) =>
    typeof value === 'number' || (typeof value === 'string' && /^\d+$/.test(value));

  const patchedListen = function listen(...args) {
    if (args.length === 0 || typeof args[0] === 'function') {
      // listen() / listen(callback): a random port on every interface -> on the host.
      args.unshift(0, host);
    } else if (isPort(args[0]) || args[0] === undefined || args[0] === null) {
      // listen(port[, host][, backlog][, callback]): insert the host unless one is given ('' is none).
      if (args[1] === '' || args[1] === null || args[1] === undefined && args.length > 1) {
        args[1] = host;
      } else if (typeof args[1] !== 'string') {
        args.splice(1, 0, host);
      }
    } else if (args[0] !== null && Object.getPrototypeOf(args[0]) === Object.prototype
               && !args[0].host && args[0].path === undefined
               && args[0].fd === undefined && args[0].handle === undefined) {
      // listen({port, ...}) (plain options object): add the host.
      args[0] = { ...args[0], host };
    }
    return originalListen.apply(this, args);
  };
  patchedListen.tnasListenHost = host;
  net.Server.prototype.listen = patchedListen;
}

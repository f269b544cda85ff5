// Node preload for NNI's manager: the tuner gets TNAS_TUNER_CONNECT_S seconds to connect, instead of 10.
//
// NNI 3.0's manager starts the tuner process (`python -m nni ...`, the dispatcher) and waits for it to
// open the tuner command channel; nni_node/core/tuner_command_channel.js gives up after a hard-coded
// 10 s ("Tuner did not connect in 10 seconds") and the experiment fails. The tuner imports torch and NNI
// first, which takes longer than that on a loaded machine; NNI has no option for this wait. Loaded with
//     NODE_OPTIONS="--require /path/to/tuner_connect.js" TNAS_TUNER_CONNECT_S=300
// it replaces that module's TunerServer.init (the one place that starts the wait) once the module has
// loaded, with the same code and the longer wait. It only acts inside NNI's manager (argv[1] ends with
// nni_node/main.js), and leaves a module that does not look like NNI 3.0's alone.
// Written and documented by tnas_plugin.strategies.manager_start.
'use strict';

const Module = require('module');
const path = require('path');

const seconds = Number(process.env.TNAS_TUNER_CONNECT_S);
const script = process.argv[1] ? path.resolve(process.argv[1]) : '';
const isManager = script.endsWith(path.join('nni_node', 'main.js'));
const target = path.join(path.dirname(script), 'core', 'tuner_command_channel.js');

function patch(exports) {
  const server = typeof exports.getTunerServer === 'function' ? exports.getTunerServer() : undefined;
  const proto = server && Object.getPrototypeOf(server);
  if (!proto || typeof proto.init !== 'function' || proto.init.tnasConnectSeconds || !server.connect) {
    return;
  }
  const init = function init() {
    if (this.connect.settled) {
      return Promise.resolve();
    }
    setTimeout(() => {
      if (!this.connect.settled) {
        const msg = `Tuner did not connect in ${seconds} seconds. Please check tuner (dispatcher) log.`;
        const error = new Error('tuner_command_channel: ' + msg);
        error.stack = `Error: ${error.message}`;  // NNI prints the stack: one line, not this file's frames
        this.connect.reject(error);
      }
    }, seconds * 1000);
    return this.connect.promise;
  };
  init.tnasConnectSeconds = seconds;
  proto.init = init;
}

if (isManager && seconds > 0 && !Module._load.tnasTunerConnect) {
  const load = Module._load;
  const patchedLoad = function (request, parent, isMain) {
    const exports = load.apply(this, arguments);
    if (typeof request === 'string' && request.endsWith('tuner_command_channel')
        && Module._resolveFilename(request, parent, isMain) === target) {
      patch(exports);
    }
    return exports;
  };
  patchedLoad.tnasTunerConnect = true;
  Module._load = patchedLoad;
}

#!/usr/bin/env node
'use strict';
// An lwm2m-node-lib LwM2M 1.0 client driven over stdin/stdout JSON lines (see common.js).
//
//   node client.js --port 5683 --endpoint node-peer [--host 127.0.0.1] [--lifetime 60] [--url '']
//                  [--lwm2m 1.0] [--no-register] [--ack-timeout 2] [--max-retransmit 4]
//
// Commands ({"cmd": ..., "id": optional}):
//   register | update | deregister          -> result (+ the registered/updated/deregistered event)
//   set    {"path": "/3303/0/5700", "value": "21.5"}   creates the instance when missing;
//                                            notifies observers of that resource
//   get    {"path": "/3/0/0"}                -> result {"value": ...}
//   unset  {"path": "/1234/0/1"}
//   create {"path": "/5/0"} | remove {"path": "/5/0"}
//   list                                     -> result {"objects": {"/3/0": {"0": ...}}}
//   observers                                -> result {"observers": ["/3303/0/5700", ...]}
//   quit                                     exits without deregistering
// Events: ready, registered {location, local_port}, updated {location, local_port}, deregistered,
//   read {path, value}, write {path, value}, execute {path, args}, error {message, ...}.

var common = require('./common');
var lwm2m = require('lwm2m-node-lib');
var client = lwm2m.client;
var registry = client.registry;
var emit = common.emit;

var DEFAULT_OBJECTS = {
    '/3/0': {
        '0': 'node-peer',           // Manufacturer
        '1': 'lwm2m-node-lib',      // Model Number
        '2': 'NP-0001',             // Serial Number
        '3': '1.4.0',               // Firmware Version
        '9': '87',                  // Battery Level
        '16': 'U'                   // Supported Binding and Modes
    },
    '/3303/0': {
        '5700': '21.5',             // Sensor Value
        '5701': 'Cel'               // Sensor Units
    },
    '/1234/0': {
        '1': 'initial'              // a writable test resource
    }
};

var options;
try {
    options = common.parseArgs(process.argv.slice(2), Object.assign({
        host: '127.0.0.1',
        port: '',
        endpoint: '',
        lifetime: '60',
        url: '',
        lwm2m: '1.0',
        'no-register': false
    }, common.TIMING_DEFAULTS));
    if (!options.port || !options.endpoint) {
        throw new Error('--port and --endpoint are required');
    }
} catch (error) {
    process.stderr.write('client.js: ' + error.message + '\n');
    process.exit(2);
}

common.installCrashReporting();
common.applyTiming(options);

client.init({
    client: {
        lifetime: String(options.lifetime),
        version: String(options.lwm2m),
        ipProtocol: 'udp4',
        serverProtocol: 'udp4',
        formats: common.FORMATS,
        logLevel: process.env.NODE_PEER_LOG_LEVEL || 'FATAL'
    }
});

var deviceInformation = null;   // what lwm2m-node-lib returns from register()
var busy = false;               // a register/update/deregister is in flight

function location(info) {
    // The library joins the Location-Path options with '/' but without a leading slash.
    return info.location.charAt(0) === '/' ? info.location : '/' + info.location;
}

function listenerPort(info) {
    var server = info.serverInfo && info.serverInfo.server;
    var socket = server && server._sock;
    return socket ? socket.address().port : null;
}

function installHandlers(serverInfo) {
    client.setHandler(serverInfo, 'read', function(objectType, objectId, resourceId, value, callback) {
        emit({event: 'read', path: '/' + objectType + '/' + objectId + '/' + resourceId, value: value});
        callback(null, value);
    });
    client.setHandler(serverInfo, 'write', function(objectType, objectId, resourceId, value, callback) {
        emit({event: 'write', path: '/' + objectType + '/' + objectId + '/' + resourceId, value: value});
        callback(null);
    });
    client.setHandler(serverInfo, 'execute', function(objectType, objectId, resourceId, args, callback) {
        emit({event: 'execute', path: '/' + objectType + '/' + objectId + '/' + resourceId, args: args});
        callback(null);
    });
}

function ensureObject(objectUri, callback) {
    registry.get(objectUri, function(error, object) {
        if (!error) {
            callback(null, object);
        } else {
            registry.create(objectUri, callback);
        }
    });
}

function setResource(path, value, callback) {
    var parsed = common.parsePath(path, 3, 3);
    ensureObject(parsed.objectUri, function(error) {
        if (error) {
            callback(error);
        } else {
            // Values are kept as strings: the library answers 4.04 for a resource whose value is falsy.
            registry.setResource(parsed.objectUri, parsed.resourceId, String(value), callback);
        }
    });
}

function presetObjects(callback) {
    var paths = [];
    Object.keys(DEFAULT_OBJECTS).forEach(function(objectUri) {
        Object.keys(DEFAULT_OBJECTS[objectUri]).forEach(function(resourceId) {
            paths.push([objectUri + '/' + resourceId, DEFAULT_OBJECTS[objectUri][resourceId]]);
        });
    });
    (function next(i) {
        if (i === paths.length) {
            callback(null);
        } else {
            setResource(paths[i][0], paths[i][1], function(error) {
                if (error) {
                    callback(error);
                } else {
                    next(i + 1);
                }
            });
        }
    })(0);
}

function register(command) {
    if (deviceInformation) {
        return common.replyError(command, new Error('already registered'));
    }
    if (busy) {
        return common.replyError(command, new Error('another registration operation is in flight'));
    }
    busy = true;
    client.register(options.host, Number(options.port), options.url, options.endpoint, function(error, info) {
        busy = false;
        if (error) {
            common.replyError({id: command.id, cmd: 'register'}, error);
            return;
        }
        deviceInformation = info;
        installHandlers(info.serverInfo);
        var event = {location: location(info), local_port: listenerPort(info)};
        emit(Object.assign({event: 'registered'}, event));
        if (command.cmd) {
            common.replyResult(command, event);
        }
    });
}

function update(command) {
    if (!deviceInformation) {
        return common.replyError(command, new Error('not registered'));
    }
    if (busy) {
        return common.replyError(command, new Error('another registration operation is in flight'));
    }
    busy = true;
    var previousServerInfo = deviceInformation.serverInfo;
    client.update(deviceInformation, function(error, info) {
        busy = false;
        if (error) {
            common.replyError(command, error);
            return;
        }
        // update() sends from a fresh socket and starts a new listener (with default handlers) on that
        // port; the old listener would keep answering on the old port. Close it, as a device whose
        // address changed would, so that a server still using the old address fails visibly.
        deviceInformation = info;
        installHandlers(info.serverInfo);
        if (previousServerInfo && previousServerInfo !== info.serverInfo && previousServerInfo.server) {
            previousServerInfo.server.close();
        }
        var event = {location: location(info), local_port: listenerPort(info)};
        emit(Object.assign({event: 'updated'}, event));
        common.replyResult(command, event);
    });
}

function deregister(command) {
    if (!deviceInformation) {
        return common.replyError(command, new Error('not registered'));
    }
    if (busy) {
        return common.replyError(command, new Error('another registration operation is in flight'));
    }
    busy = true;
    client.unregister(deviceInformation, function(error) {
        busy = false;
        if (error) {
            common.replyError(command, error);
            return;
        }
        deviceInformation = null;
        emit({event: 'deregistered'});
        common.replyResult(command, {});
    });
}

function listObjects(command) {
    registry.list(function(error, objects) {
        if (error) {
            return common.replyError(command, error);
        }
        var result = {};
        objects.forEach(function(object) {
            result[object.objectUri] = object.attributes;
        });
        common.replyResult(command, {objects: result});
    });
}

function dispatch(command) {
    var parsed;
    var reply = function(error) {
        if (error) {
            common.replyError(command, error);
        } else {
            common.replyResult(command, {});
        }
    };
    switch (command.cmd) {
    case 'register':
        return register(command);
    case 'update':
        return update(command);
    case 'deregister':
        return deregister(command);
    case 'set':
        if (command.value === undefined || command.value === null) {
            throw new Error('set needs a value');
        }
        return setResource(command.path, command.value, reply);
    case 'get':
        parsed = common.parsePath(command.path, 3, 3);
        return registry.get(parsed.objectUri, function(error, object) {
            if (error) {
                return common.replyError(command, error);
            }
            if (!(parsed.resourceId in object.attributes)) {
                return common.replyError(command, new Error('no such resource: ' + command.path));
            }
            common.replyResult(command, {value: object.attributes[parsed.resourceId]});
        });
    case 'unset':
        parsed = common.parsePath(command.path, 3, 3);
        return registry.unsetResource(parsed.objectUri, parsed.resourceId, reply);
    case 'create':
        parsed = common.parsePath(command.path, 2, 2);
        return registry.create(parsed.objectUri, reply);
    case 'remove':
        parsed = common.parsePath(command.path, 2, 2);
        return registry.remove(parsed.objectUri, reply);
    case 'list':
        return listObjects(command);
    case 'observers':
        return client.listObservers(function(error, observers) {
            if (error) {
                return common.replyError(command, error);
            }
            common.replyResult(command, {observers: observers.map(function(observer) {
                return observer.id;
            })});
        });
    case 'quit':
        common.replyResult(command, {});
        return process.exit(0);
    default:
        throw new Error('unknown command: ' + JSON.stringify(command.cmd));
    }
}

presetObjects(function(error) {
    if (error) {
        emit({event: 'error', message: 'presetting objects failed: ' + common.errorMessage(error)});
        process.exit(1);
    }
    emit({event: 'ready', endpoint: options.endpoint, lwm2m: options.lwm2m, lifetime: Number(options.lifetime)});
    common.readCommands(dispatch, function() {
        process.exit(0);
    });
    if (!options['no-register']) {
        register({});
    }
});

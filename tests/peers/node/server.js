#!/usr/bin/env node
'use strict';
// An lwm2m-node-lib LwM2M 1.0 server (in-memory device registry, no database) driven over
// stdin/stdout JSON lines (see common.js).
//
//   node server.js [--port 0] [--write-format text/plain] [--accept text/plain]
//                  [--lifetime-check 1000] [--ack-timeout 2] [--max-retransmit 4]
//
// --port 0 takes a free port; the "listening" event tells which. --accept '' sends no Accept option.
// --write-format is the Content-Format of Write and Execute payloads (the library's own default is
// its pre-1.0 number 1541).
//
// Commands ({"cmd": ..., "id": optional}); "path" is /object/instance/resource (the library
// addresses resources only), "endpoint" the client's endpoint name:
//   read       {"endpoint", "path"}                 -> result {"value": "<payload as UTF-8>"}
//   write      {"endpoint", "path", "value"}        -> result {}
//   execute    {"endpoint", "path", "args": ""}     -> result {}
//   discover   {"endpoint", "path": "/3" | "/3/0" | "/3/0/0"} -> result {"value": "<link-format>"}
//   write-attributes {"endpoint", "path", "attributes": {"pmin": 1, "pmax": 5}} -> result {}
//   observe    {"endpoint", "path"}                 -> result {"value": first value}, then notify events
//   cancel     {"endpoint", "path"}                 -> result {}
//   list                                            -> result {"devices": [...]}
//   quit
// Events: listening {port}, registration {endpoint, id, location, lifetime, version, binding, payload,
//   objects, address, port}, update {endpoint, id, location, lifetime, payload, objects, address, port},
//   unregistration {endpoint, id, location, expired}, notify {endpoint, path, value}, result, error.

var common = require('./common');
var lwm2m = require('lwm2m-node-lib');
var server = lwm2m.server;
var emit = common.emit;

var options;
try {
    options = common.parseArgs(process.argv.slice(2), Object.assign({
        port: '0',
        'write-format': 'text/plain',
        accept: 'text/plain',
        'lifetime-check': '1000'
    }, common.TIMING_DEFAULTS));
} catch (error) {
    process.stderr.write('server.js: ' + error.message + '\n');
    process.exit(2);
}

common.installCrashReporting();
common.applyTiming(options);


var config = {
    port: Number(options.port),
    lifetimeCheckInterval: Number(options['lifetime-check']),
    udpWindow: 100,
    defaultType: 'Device',
    logLevel: process.env.NODE_PEER_LOG_LEVEL || 'FATAL',
    ipProtocol: 'udp4',
    serverProtocol: 'udp4',
    deviceRegistry: {type: 'memory'},
    formats: common.FORMATS,
    writeFormat: options['write-format']
};
if (options.accept) {
    config.defaultAcceptFormat = options.accept;
}

var serverInfo = null;

function devicePayload(device) {
    return {
        endpoint: device.name,
        id: device.id,
        location: '/rd/' + device.id,
        lifetime: device.lifetime === undefined ? null : Number(device.lifetime),
        address: device.address,
        port: device.port
    };
}

function onRegistration(endpoint, lifetime, version, binding, payload, callback) {
    server.getDevice(endpoint, function(error, device) {
        var event = {event: 'registration', endpoint: endpoint};
        if (!error) {
            Object.assign(event, devicePayload(device));
        }
        Object.assign(event, {
            lifetime: lifetime === undefined ? null : Number(lifetime),
            version: version === undefined ? null : version,
            binding: binding === undefined ? null : binding,
            payload: payload,
            objects: common.parseObjectLinks(payload)
        });
        emit(event);
        callback(null);
    });
}

function onUpdate(device, payload, callback) {
    emit(Object.assign({event: 'update'}, devicePayload(device), {
        payload: payload,
        objects: common.parseObjectLinks(payload)
    }));
    callback(null);
}

function onUnregistration(device, callback, expired) {
    emit({event: 'unregistration', endpoint: device.name, id: device.id, location: '/rd/' + device.id,
        expired: Boolean(expired)});
    callback(null);
}

function withDevice(command, minDepth, maxDepth, action) {
    if (!command.endpoint) {
        throw new Error('missing endpoint');
    }
    var parsed = common.parsePath(command.path, minDepth, maxDepth);
    server.getDevice(command.endpoint, function(error, device) {
        if (error) {
            return common.replyError(command, error);
        }
        action(device.id, parsed);
    });
}

function valueReply(command) {
    return function(error, value) {
        if (error) {
            common.replyError(command, error);
        } else {
            common.replyResult(command, {value: value});
        }
    };
}

function emptyReply(command) {
    return function(error) {
        if (error) {
            common.replyError(command, error);
        } else {
            common.replyResult(command, {});
        }
    };
}

function dispatch(command) {
    switch (command.cmd) {
    case 'read':
        return withDevice(command, 3, 3, function(id, p) {
            server.read(id, p.objectType, p.objectId, p.resourceId, valueReply(command));
        });
    case 'write':
        if (command.value === undefined || command.value === null) {
            throw new Error('write needs a value');
        }
        return withDevice(command, 3, 3, function(id, p) {
            server.write(id, p.objectType, p.objectId, p.resourceId, String(command.value),
                emptyReply(command));
        });
    case 'execute':
        return withDevice(command, 3, 3, function(id, p) {
            server.execute(id, p.objectType, p.objectId, p.resourceId, command.args || '',
                emptyReply(command));
        });
    case 'discover':
        return withDevice(command, 1, 3, function(id, p) {
            if (p.resourceId !== undefined) {
                server.discover(id, p.objectType, p.objectId, p.resourceId, valueReply(command));
            } else if (p.objectId !== undefined) {
                server.discover(id, p.objectType, p.objectId, valueReply(command));
            } else {
                server.discover(id, p.objectType, valueReply(command));
            }
        });
    case 'write-attributes':
        return withDevice(command, 1, 3, function(id, p) {
            server.writeAttributes(id, p.objectType, p.objectId, p.resourceId, command.attributes || {},
                emptyReply(command));
        });
    case 'observe':
        return withDevice(command, 3, 3, function(id, p) {
            server.observe(id, p.objectType, p.objectId, p.resourceId, function(value) {
                emit({event: 'notify', endpoint: command.endpoint, path: command.path, value: value});
            }, valueReply(command));
        });
    case 'cancel':
        return withDevice(command, 3, 3, function(id, p) {
            server.cancelObserver(id, p.objectType, p.objectId, p.resourceId, emptyReply(command));
        });
    case 'list':
        return server.listDevices(function(error, devices) {
            if (error) {
                return common.replyError(command, error);
            }
            common.replyResult(command, {devices: devices.map(devicePayload)});
        });
    case 'quit':
        common.replyResult(command, {});
        return process.exit(0);
    default:
        throw new Error('unknown command: ' + JSON.stringify(command.cmd));
    }
}

server.start(config, function(error, info) {
    if (error) {
        emit({event: 'error', message: 'server start failed: ' + common.errorMessage(error)});
        process.exit(1);
    }
    serverInfo = info;
    // Server-initiated requests are sent to this server's own port with a Proxy-Uri (the library's
    // CoAP server forwards them to the device), so config.port must be the real port when --port 0.
    var port = serverInfo.server._sock.address().port;
    server.getRegistry().stopLifetimeCheck();
    config.port = port;
    server.setHandler(serverInfo, 'registration', onRegistration);
    server.setHandler(serverInfo, 'updateRegistration', onUpdate);
    server.setHandler(serverInfo, 'unregistration', onUnregistration);
    // setHandler('unregistration') restarts the lifetime check with an undefined interval (a
    // library bug that makes it spin every millisecond); restart it with ours.
    server.getRegistry().checkLifetime(config.lifetimeCheckInterval, function(device, callback) {
        onUnregistration(device, callback, true);
    });
    emit({event: 'listening', port: port});
    common.readCommands(dispatch, function() {
        process.exit(0);
    });
});

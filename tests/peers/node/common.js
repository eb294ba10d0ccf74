'use strict';
// Shared plumbing for the lwm2m-node-lib test peers (client.js, server.js).
//
// Protocol: one JSON object per line. Commands arrive on stdin, events leave on stdout.
// Every command may carry an "id"; it is answered by exactly one
// {"event":"result","id":..,"cmd":..,...} or {"event":"error","id":..,"cmd":..,"message":..}.
// Anything that is not protocol (library logs, stack traces) goes to stderr.

var readline = require('readline');
var logger = require('logops');
var coap = require('coap');

// lwm2m-node-lib logs through logops, which writes to stdout by default: keep stdout for events.
logger.setStream(process.stderr);
logger.setLevel(process.env.NODE_PEER_LOG_LEVEL || 'FATAL');

// Bind every CoAP listening socket the library creates to loopback (the library itself binds the
// wildcard address and offers no option for it). Agents (outgoing requests) keep their ephemeral sockets.
var BIND_ADDRESS = process.env.NODE_PEER_BIND || '127.0.0.1';
var originalCreateServer = coap.createServer;
coap.createServer = function createLoopbackServer() {
    var server = originalCreateServer.apply(coap, arguments);
    var originalListen = server.listen;
    server.listen = function listen(port, address, done) {
        if (typeof address === 'function') {
            done = address;
            address = null;
        }
        return originalListen.call(server, port, address || BIND_ADDRESS, done);
    };
    return server;
};

// CoAP retransmission parameters (RFC 7252 ACK_TIMEOUT seconds, MAX_RETRANSMIT) for the whole process.
function applyTiming(options) {
    var timing = {};
    if (options['ack-timeout'] !== '') {
        timing.ackTimeout = Number(options['ack-timeout']);
    }
    if (options['max-retransmit'] !== '') {
        timing.maxRetransmit = Number(options['max-retransmit']);
    }
    coap.updateTiming(timing);
}

var TIMING_DEFAULTS = {'ack-timeout': '', 'max-retransmit': ''};

// Content-Format names for node-coap beyond its own (text/plain 0, link-format 40, octet-stream 42,
// json 50, cbor 60). node-coap cannot parse a message carrying a Content-Format or Accept number it
// has no name for: a server silently drops such a request (no ACK, no response) and a client fails
// on such a response. The library only names its pre-1.0 text format 1541 by default, so every
// LwM2M 1.0/1.1 number is named here, for both scripts. Naming a format does not make the library
// encode or decode it: it still reads and writes plain text.
var FORMATS = [
    {name: 'application/vnd.oma.lwm2m+text-draft', value: 1541},
    {name: 'application/senml+json', value: 110},
    {name: 'application/senml+cbor', value: 112},
    {name: 'application/vnd.oma.lwm2m+tlv', value: 11542},
    {name: 'application/vnd.oma.lwm2m+json', value: 11543},
    {name: 'application/vnd.oma.lwm2m+cbor', value: 11544}
];

function emit(event) {
    process.stdout.write(JSON.stringify(event) + '\n');
}

function errorMessage(error) {
    if (!error) {
        return 'unknown error';
    }
    return error.message || error.name || String(error);
}

function replyError(command, error) {
    var event = {event: 'error', id: command.id, cmd: command.cmd, message: errorMessage(error)};
    if (error && error.name) {
        event.name = error.name;
    }
    if (error && error.code) {
        event.code = error.code;
    }
    emit(event);
}

function replyResult(command, fields) {
    var event = {event: 'result', id: command.id, cmd: command.cmd};
    Object.keys(fields || {}).forEach(function(key) {
        event[key] = fields[key];
    });
    emit(event);
}

function parseArgs(argv, defaults) {
    var options = Object.assign({}, defaults);
    for (var i = 0; i < argv.length; i++) {
        var arg = argv[i];
        if (arg.indexOf('--') !== 0) {
            throw new Error('unexpected argument: ' + arg);
        }
        var eq = arg.indexOf('=');
        var name, value;
        if (eq > 0) {
            name = arg.substring(2, eq);
            value = arg.substring(eq + 1);
        } else if (typeof defaults[arg.substring(2)] === 'boolean') {
            name = arg.substring(2);
            value = true;
        } else {
            name = arg.substring(2);
            value = argv[++i];
            if (value === undefined) {
                throw new Error('missing value for ' + arg);
            }
        }
        if (!(name in defaults)) {
            throw new Error('unknown option --' + name);
        }
        options[name] = value;
    }
    return options;
}

// Parses "/3/0/1" into {objectType: '3', objectId: '0', resourceId: '1', objectUri: '/3/0'}.
function parsePath(path, minDepth, maxDepth) {
    if (typeof path !== 'string' || !/^(\/\d+)+$/.test(path)) {
        throw new Error('bad path: ' + JSON.stringify(path));
    }
    var parts = path.split('/').slice(1);
    if (parts.length < minDepth || parts.length > maxDepth) {
        throw new Error('path must have ' + minDepth + '..' + maxDepth + ' segments: ' + path);
    }
    return {
        objectType: parts[0],
        objectId: parts[1],
        resourceId: parts[2],
        objectUri: parts.length >= 2 ? '/' + parts[0] + '/' + parts[1] : '/' + parts[0]
    };
}

// Parses a CoRE link-format object list such as '</1/0>,</3/0>;ver=1.1' into ['/1/0', '/3/0'].
function parseObjectLinks(payload) {
    var links = [];
    var pattern = /<([^>]*)>/g;
    var match;
    while ((match = pattern.exec(payload || '')) !== null) {
        links.push(match[1]);
    }
    return links;
}

// Reads JSON-line commands from stdin. Ends the process when stdin closes (the parent is gone).
function readCommands(dispatch, onEnd) {
    var lines = readline.createInterface({input: process.stdin, terminal: false});
    lines.on('line', function(line) {
        if (!line.trim()) {
            return;
        }
        var command;
        try {
            command = JSON.parse(line);
        } catch (error) {
            emit({event: 'error', message: 'bad JSON command: ' + errorMessage(error), line: line});
            return;
        }
        try {
            dispatch(command);
        } catch (error) {
            replyError(command, error);
        }
    });
    lines.on('close', onEnd);
}

function installCrashReporting() {
    process.on('uncaughtException', function(error) {
        emit({event: 'error', uncaught: true, message: errorMessage(error)});
        process.stderr.write('uncaught exception: ' + (error && error.stack ? error.stack : error) + '\n');
    });
    process.on('SIGTERM', function() {
        process.exit(0);
    });
}

exports.FORMATS = FORMATS;
exports.applyTiming = applyTiming;
exports.TIMING_DEFAULTS = TIMING_DEFAULTS;
exports.emit = emit;
exports.replyError = replyError;
exports.replyResult = replyResult;
exports.parseArgs = parseArgs;
exports.parsePath = parsePath;
exports.parseObjectLinks = parseObjectLinks;
exports.readCommands = readCommands;
exports.installCrashReporting = installCrashReporting;
exports.errorMessage = errorMessage;

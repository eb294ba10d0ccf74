'use strict';
// What the SMPP peers (smsc.js, esme.js) share: JSON lines on stdin/stdout, --name=value
// arguments, and short_message as it was on the wire. Unlike common.js it loads no CoAP or
// LwM2M plumbing.

var readline = require('readline');

function emit(event) {
    process.stdout.write(JSON.stringify(event) + '\n');
}

// --name=value arguments over the defaults; an unknown one ends the process (exit 2).
function parseArgs(script, argv, defaults) {
    var options = Object.assign({}, defaults);
    argv.forEach(function (arg) {
        var match = /^--([a-z-]+)=(.*)$/.exec(arg);
        if (!match || !(match[1] in defaults)) {
            process.stderr.write(script + ': unknown argument ' + arg + '\n');
            process.exit(2);
        }
        options[match[1]] = match[2];
    });
    return options;
}

// The library decodes short_message into {udh: [IE...], message}; the tests want the field's
// bytes as they were on the wire: UDHL, the IEs, then the data.
function rawShortMessage(value) {
    if (Buffer.isBuffer(value)) {
        return value;
    }
    var message = Buffer.isBuffer(value.message) ? value.message : Buffer.from(value.message || '', 'binary');
    if (!value.udh || !value.udh.length) {
        return message;
    }
    var ies = Buffer.concat(value.udh);
    return Buffer.concat([Buffer.from([ies.length]), ies, message]);
}

// Commands from stdin, one JSON object a line, to handlers[command.cmd]; "quit" and the end of
// stdin end the process, an unknown command is answered with an error event.
function readCommands(handlers) {
    readline.createInterface({input: process.stdin}).on('line', function (line) {
        if (!line.trim()) {
            return;
        }
        var command;
        try {
            command = JSON.parse(line);
        } catch (error) {
            process.stderr.write('not JSON: ' + line + '\n');
            return;
        }
        if (command.cmd === 'quit') {
            process.exit(0);
        } else if (Object.prototype.hasOwnProperty.call(handlers, command.cmd)) {
            handlers[command.cmd](command);
        } else {
            emit({event: 'error', id: command.id, cmd: command.cmd, message: 'unknown command'});
        }
    }).on('close', function () {
        process.exit(0);
    });
}

exports.emit = emit;
exports.parseArgs = parseArgs;
exports.rawShortMessage = rawShortMessage;
exports.readCommands = readCommands;

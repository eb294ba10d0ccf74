#!/usr/bin/env node
'use strict';
// An SMSC for the SMPP tests, built on the npm `smpp` package (farhadi/node-smpp, an SMPP 3.4
// client and server independent of ours), driven over stdin/stdout JSON lines (smpp_common.js,
// shared with esme.js; none of common.js's LwM2M plumbing).
//
//   node smsc.js [--port 0] [--system-id esme] [--password secret] [--respond yes|no]
//                [--id-prefix a]
//
// --port 0 takes a free loopback port; the "listening" event tells which. --respond no records
// submit_sm PDUs without ever answering them (a stalled SMSC: what an ESME sent then is not
// acknowledged). Message IDs are <id-prefix><counter>, so a restarted SMSC never reuses one.
//
// Commands ({"cmd": ..., "id": optional}):
//   deliver {"source_addr", "destination_addr", "short_message": hex, "esm_class": 0,
//            "data_coding": 4, "tlvs": {"receipted_message_id": "..", "message_state": 2}}
//           -> result {"command_status"} once the ESME answered the deliver_sm
//   quit
// Events: listening {port}, bind {system_id, password, accepted}, submit_sm {sequence_number,
//   source_addr, destination_addr, dest_addr_ton, dest_addr_npi, esm_class, data_coding,
//   registered_delivery, short_message (hex, the whole field: UDH and data), message_id},
//   enquire_link {}, unbind {}, close {}, result, error.

var smpp = require('smpp');
var shared = require('./smpp_common');
var emit = shared.emit;

var options = shared.parseArgs('smsc.js', process.argv.slice(2), {
    port: '0',
    'system-id': 'esme',
    password: 'secret',
    respond: 'yes',
    'id-prefix': 'm'
});

var sessions = [];
var counter = 0;

var server = smpp.createServer(function (session) {
    sessions.push(session);
    session.on('bind_transceiver', function (pdu) {
        var accepted = pdu.system_id === options['system-id'] && pdu.password === options.password;
        emit({event: 'bind', system_id: pdu.system_id, password: pdu.password, accepted: accepted});
        if (!accepted) {
            session.send(pdu.response({command_status: smpp.ESME_RBINDFAIL}));
            session.close();
            return;
        }
        session.send(pdu.response({system_id: 'node-smsc'}));
    });
    session.on('submit_sm', function (pdu) {
        var messageId = options['id-prefix'] + (++counter);
        emit({
            event: 'submit_sm',
            sequence_number: pdu.sequence_number,
            source_addr: pdu.source_addr,
            destination_addr: pdu.destination_addr,
            dest_addr_ton: pdu.dest_addr_ton,
            dest_addr_npi: pdu.dest_addr_npi,
            esm_class: pdu.esm_class,
            data_coding: pdu.data_coding,
            registered_delivery: pdu.registered_delivery,
            short_message: shared.rawShortMessage(pdu.short_message).toString('hex'),
            message_id: options.respond === 'yes' ? messageId : null
        });
        if (options.respond === 'yes') {
            session.send(pdu.response({message_id: messageId}));
        }
    });
    session.on('enquire_link', function (pdu) {
        emit({event: 'enquire_link'});
        session.send(pdu.response());
    });
    session.on('unbind', function (pdu) {
        emit({event: 'unbind'});
        session.send(pdu.response());
        session.close();
    });
    session.on('close', function () {
        sessions.splice(sessions.indexOf(session), 1);
        emit({event: 'close'});
    });
    session.on('error', function (error) {
        process.stderr.write('session error: ' + error.message + '\n');
    });
});

function deliver(command) {
    var session = sessions[sessions.length - 1];
    if (!session) {
        emit({event: 'error', id: command.id, cmd: command.cmd, message: 'no ESME is bound'});
        return;
    }
    var fields = {
        source_addr: command.source_addr,
        destination_addr: command.destination_addr || '',
        source_addr_ton: command.source_addr_ton === undefined ? 1 : command.source_addr_ton,
        source_addr_npi: 1,
        esm_class: command.esm_class || 0,
        data_coding: command.data_coding === undefined ? 4 : command.data_coding,
        short_message: Buffer.from(command.short_message || '', 'hex')
    };
    var tlvs = command.tlvs || {};
    Object.keys(tlvs).forEach(function (name) {
        fields[name] = tlvs[name];
    });
    session.deliver_sm(fields, function (response) {
        emit({event: 'result', id: command.id, cmd: command.cmd, command_status: response.command_status});
    });
}

shared.readCommands({deliver: deliver});

server.on('error', function (error) {
    process.stderr.write('server error: ' + error.message + '\n');
    process.exit(1);
});
server.listen(Number(options.port), '127.0.0.1', function () {
    emit({event: 'listening', port: server.address().port});
});

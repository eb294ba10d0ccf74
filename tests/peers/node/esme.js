#!/usr/bin/env node
'use strict';
// An ESME for the SMSC tests of `lwm2m network`, built on the npm `smpp` package (farhadi/node-smpp,
// an SMPP 3.4 implementation independent of ours): it plays the LwM2M server's side, driven over
// stdin/stdout JSON lines like smsc.js.
//
//   node esme.js --port=N [--system-id=esme] [--password=secret] [--bind=transceiver|transmitter|
//                receiver] [--address-range=]
//
// Commands ({"cmd": ..., "id": optional}):
//   submit {"destination_addr", "short_message": hex (UDH included), "esm_class": 0,
//           "data_coding": 4, "registered_delivery": 0, "source_addr": "", "validity_period": ""}
//           -> result {"command_status", "message_id"}
//   enquire_link -> result {"command_status"}
//   unbind -> result {"command_status"}
//   quit
// Events: bound {command_status}, deliver_sm {source_addr, destination_addr, esm_class,
//   data_coding, short_message (hex, the whole field), receipted_message_id, message_state},
//   close {}, result, error.

var smpp = require('smpp');
var shared = require('./smpp_common');
var emit = shared.emit;

var options = shared.parseArgs('esme.js', process.argv.slice(2), {
    port: '', 'system-id': 'esme', password: 'secret', bind: 'transceiver', 'address-range': ''
});

var session = smpp.connect({url: 'smpp://127.0.0.1:' + options.port}, function () {
    session['bind_' + options.bind]({
        system_id: options['system-id'],
        password: options.password,
        address_range: options['address-range']
    }, function (pdu) {
        emit({event: 'bound', command_status: pdu.command_status});
    });
});

session.on('deliver_sm', function (pdu) {
    emit({
        event: 'deliver_sm',
        source_addr: pdu.source_addr,
        destination_addr: pdu.destination_addr,
        esm_class: pdu.esm_class,
        data_coding: pdu.data_coding,
        short_message: shared.rawShortMessage(pdu.short_message).toString('hex'),
        receipted_message_id: pdu.receipted_message_id === undefined ? null : pdu.receipted_message_id,
        message_state: pdu.message_state === undefined ? null : pdu.message_state
    });
    session.send(pdu.response());
});
session.on('close', function () {
    emit({event: 'close'});
});
session.on('error', function (error) {
    emit({event: 'error', message: error.message});
});

function submit(command) {
    var fields = {
        source_addr: command.source_addr || '',
        source_addr_ton: command.source_addr ? 1 : 0,
        source_addr_npi: command.source_addr ? 1 : 0,
        destination_addr: command.destination_addr,
        dest_addr_ton: 1,
        dest_addr_npi: 1,
        esm_class: command.esm_class || 0,
        data_coding: command.data_coding === undefined ? 4 : command.data_coding,
        registered_delivery: command.registered_delivery || 0,
        validity_period: command.validity_period || '',
        short_message: Buffer.from(command.short_message || '', 'hex')
    };
    session.submit_sm(fields, function (pdu) {
        emit({event: 'result', id: command.id, cmd: command.cmd, command_status: pdu.command_status,
              message_id: pdu.message_id || null});
    });
}

function simple(command) {
    session[command.cmd](function (pdu) {
        emit({event: 'result', id: command.id, cmd: command.cmd, command_status: pdu.command_status});
    });
}

shared.readCommands({submit: submit, enquire_link: simple, unbind: simple});

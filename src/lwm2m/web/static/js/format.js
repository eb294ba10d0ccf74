// Names for what the API answers with: CoAP codes, content formats, typed values.

export const FORMATS = [
  ["", "Auto (by LwM2M version)"],
  ["senml-cbor", "SenML CBOR (112)"],
  ["senml-json", "SenML JSON (110)"],
  ["tlv", "TLV (11542)"],
  ["lwm2m-cbor", "LwM2M CBOR (11544)"],
  ["lwm2m-json", "LwM2M JSON (11543)"],
  ["text", "Plain text (0)"],
  ["cbor", "CBOR (60)"],
  ["opaque", "Opaque (42)"],
];

const FORMAT_NAMES = {
  0: "Plain text", 40: "Link format", 42: "Opaque", 60: "CBOR", 110: "SenML JSON",
  112: "SenML CBOR", 11542: "TLV", 11543: "LwM2M JSON", 11544: "LwM2M CBOR",
};

const SCHEMES = { U: "coap", T: "coap+tcp" };
const CARRIERS = { N: "nidd", S: "sms" };

/** A registration's address ({transport, secure, address}) as a URI: coaps://host:port,
 * nidd:dev@domain (an external identifier), sms:+4917… */
export function peerAddress(peer) {
  const scheme = SCHEMES[peer?.transport];
  if (CARRIERS[peer?.transport]) return `${CARRIERS[peer.transport]}:${peer.address}`;
  if (!scheme) return String(peer?.address ?? "");
  return `${scheme.replace("coap", peer.secure ? "coaps" : "coap")}://${peer.address}`;
}

export function formatName(number) {
  return number === null || number === undefined ? "" : FORMAT_NAMES[number] ?? `format ${number}`;
}

const CODES = {
  "2.01": "Created", "2.02": "Deleted", "2.03": "Valid", "2.04": "Changed", "2.05": "Content",
  "2.31": "Continue", "4.00": "Bad Request", "4.01": "Unauthorized", "4.02": "Bad Option",
  "4.03": "Forbidden", "4.04": "Not Found", "4.05": "Method Not Allowed", "4.06": "Not Acceptable",
  "4.08": "Request Entity Incomplete", "4.09": "Conflict", "4.12": "Precondition Failed",
  "4.13": "Request Entity Too Large", "4.15": "Unsupported Content-Format",
  "5.00": "Internal Server Error", "5.01": "Not Implemented", "5.02": "Bad Gateway",
  "5.03": "Service Unavailable", "5.04": "Gateway Timeout",
};

export function codeText(code) {
  return CODES[code] ? `${code} ${CODES[code]}` : code;
}

export function isSuccess(code) {
  return typeof code === "string" && code.startsWith("2.");
}

/** What an HTTP error from the API means to an operator. */
export function httpProblem(error) {
  if (error.status === 0) return "Server unreachable: no answer from the lwm2m server";
  const reasons = {
    400: "Refused by the server",
    401: "Not signed in",
    403: "Refused",
    404: "Not found",
    502: "The device's answer was unusable",
    503: "The device's queue is full",
    504: "No answer from the device in time",
  };
  return `${reasons[error.status] ?? `HTTP ${error.status}`}: ${error.message}`;
}

const NUMERIC = new Set(["integer", "unsigned integer", "float", "time"]);

export function isNumeric(resource) {
  return resource ? NUMERIC.has(resource.type) : false;
}

/** A value as a person reads it: times as dates, units after numbers. */
export function showValue(value, resource) {
  if (value === undefined) return "—";
  if (resource?.type === "time" && typeof value === "number") {
    return value === 0 ? "0" : new Date(value * 1000).toLocaleString([], { hour12: false });
  }
  if (typeof value === "number" && !Number.isInteger(value)) return String(Math.round(value * 1e6) / 1e6);
  if (value === "") return "(empty)";
  return String(value);
}

/** A form's text as the JSON value the API expects for a resource of this type. */
export function parseInput(text, type) {
  switch (type) {
    case "boolean":
      return text === "true";
    case "integer":
    case "unsigned integer":
    case "time":
    case "float": {
      const number = Number(text);
      if (text.trim() === "" || !Number.isFinite(number)) throw new Error(`"${text}" is not a number`);
      if (type !== "float" && !Number.isInteger(number)) throw new Error(`"${text}" is not an integer`);
      return number;
    }
    default:
      return text;
  }
}

/** A form field for a value of a resource. */
export function valueField(name, label, resource, value) {
  const hints = {
    opaque: "base64",
    objlnk: "objectId:instanceId, e.g. 3:0",
    time: "seconds since 1970 (Unix time)",
    corelnk: "CoRE link format",
  };
  const field = { name, label, value: value ?? "", hint: [resource?.units, hints[resource?.type]].filter(Boolean).join(" · ") };
  if (resource?.type === "boolean") {
    return { ...field, type: "select", options: [["true", "true"], ["false", "false"]], value: String(value ?? "false") };
  }
  if (isNumeric(resource)) return { ...field, type: "number", step: resource.type === "float" ? "any" : "1" };
  return field;
}

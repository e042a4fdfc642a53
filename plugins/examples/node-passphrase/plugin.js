// plugin.js serves a factor written in JavaScript as a Twofold factor
// plugin: go-plugin's handshake (magic cookie, protocol version
// negotiation, the stdout line, AutoMTLS with the host's certificate), the
// gRPC health check and controller go-plugin calls, and the Factor service
// of factors/proto/factor.proto. A vendor copies this file and writes only
// the factor (see factor.js).
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

// The handshake constants of factors/internal/wire: the host sets the
// cookie; a plugin started by hand refuses to run, as go-plugin's do.
const MAGIC_COOKIE_KEY = 'TWOFOLD_FACTOR_PLUGIN';
const MAGIC_COOKIE_VALUE = 'a4c2b8f0-twofold-factor';
// The contract versions this plugin speaks (factors.ProtocolVersion).
const PROTOCOL_VERSIONS = [1, 2];

// The factor's typed failures (factors.Err*), with the gRPC code the Go
// SDK uses for each.
const KINDS = {
  BAD_REQUEST: [1, 3], // [ErrorKind, grpc code InvalidArgument]
  INVALID_RESPONSE: [2, 7], // PermissionDenied
  REPLAY: [3, 6], // AlreadyExists
  CLONE_WARNING: [4, 7],
  ATTESTATION_REFUSED: [5, 9], // FailedPrecondition
  USER_VERIFICATION_REQUIRED: [6, 7],
  UNSUPPORTED: [7, 12], // Unimplemented
};

/** A failure the host sees as the sentinel error of the same name. */
class FactorError extends Error {
  constructor(kind, detail) {
    if (!KINDS[kind]) throw new TypeError(`unknown factor error kind ${kind}`);
    super(`${kind.toLowerCase().replace(/_/g, ' ')}: ${detail || ''}`);
    this.kind = kind;
    this.detail = detail || '';
  }
}

// --- a minimal protobuf writer for google.rpc.Status, the gRPC status
// details that carry a FactorError across the boundary.
function varint(n) {
  const out = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return Buffer.from(out);
}
const field = (num, wire, payload) => Buffer.concat([varint((num << 3) | wire), payload]);
const bytesField = (num, buf) => field(num, 2, Buffer.concat([varint(buf.length), buf]));
const intField = (num, n) => field(num, 0, varint(n));

function statusDetails(code, message, kind, detail) {
  const factorError = Buffer.concat([intField(1, kind), bytesField(2, Buffer.from(detail, 'utf8'))]);
  const any = Buffer.concat([
    bytesField(1, Buffer.from('type.googleapis.com/twofold.factor.v1.FactorError')),
    bytesField(2, factorError),
  ]);
  return Buffer.concat([intField(1, code), bytesField(2, Buffer.from(message, 'utf8')), bytesField(3, any)]);
}

// selfSignedCert makes the plugin's AutoMTLS certificate the way
// go-plugin does: a self-signed CA for "localhost", for server and client
// authentication.
function selfSignedCert(forge) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey);
  cert.serialNumber = '01' + crypto.randomBytes(15).toString('hex');
  cert.validity.notBefore = new Date(Date.now() - 30 * 1000);
  cert.validity.notAfter = new Date(Date.now() + 30 * 365 * 24 * 3600 * 1000);
  const attrs = [{ name: 'commonName', value: 'localhost' }, { name: 'organizationName', value: 'HashiCorp' }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, keyAgreement: true, keyCertSign: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }] },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(privateKey), forge.md.sha256.create());
  const der = Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), 'binary');
  return { certPem: forge.pki.certificateToPem(cert), keyPem: privateKey, der };
}

function protoPath(name) {
  // Installed: next to this file; in the source tree: the shared contract.
  for (const p of [path.join(__dirname, name), path.join(__dirname, '../../../factors/proto', name)]) {
    if (fs.existsSync(p)) return p;
  }
  throw new Error(`cannot find ${name}`);
}

/**
 * serve runs factor as a plugin until the host stops it. factor has one
 * function per call of the Factor service, in camelCase (describe,
 * configure, beginEnrollment, ...), taking the request and returning the
 * response (or a Promise of it) as plain objects with snake_case fields.
 */
function serve(factor) {
  if (process.env[MAGIC_COOKIE_KEY] !== MAGIC_COOKIE_VALUE) {
    process.stderr.write(
      'This binary is a plugin. These are not meant to be executed directly.\n' +
        'Please execute the program that consumes these plugins, which will\n' +
        'load any plugins automatically\n',
    );
    process.exit(1);
  }
  const grpc = require('@grpc/grpc-js');
  const loader = require('@grpc/proto-loader');
  const opts = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };
  const load = (file) => grpc.loadPackageDefinition(loader.loadSync(protoPath(file), opts));
  const factorPkg = load('factor.proto').twofold.factor.v1;
  const health = load('go-plugin.proto').grpc.health.v1;
  const controller = load('controller.proto').plugin;

  const offered = (process.env.PLUGIN_PROTOCOL_VERSIONS || '').split(',').map(Number);
  const common = PROTOCOL_VERSIONS.filter((v) => offered.includes(v));
  const version = common.length ? Math.max(...common) : Math.min(...PROTOCOL_VERSIONS);

  const server = new grpc.Server();
  const wrap = (name, fn) => (call, callback) => {
    Promise.resolve()
      .then(() => fn(call.request))
      .then((res) => {
        if (name === 'Describe') {
          res = { ...res, protocol_version: version, settings: { ...(res.settings || {}) } };
          for (const s of res.setting_schema || []) if (!(s.name in res.settings)) res.settings[s.name] = s.description || '';
        }
        callback(null, res || {});
      })
      .catch((err) => {
        if (err instanceof FactorError) {
          const [kind, code] = KINDS[err.kind];
          const md = new grpc.Metadata();
          md.set('grpc-status-details-bin', statusDetails(code, err.message, kind, err.detail));
          callback({ code, details: err.message, metadata: md });
          return;
        }
        process.stderr.write(`factor ${name}: ${err && err.stack ? err.stack : err}\n`);
        callback({ code: grpc.status.INTERNAL, details: String((err && err.message) || err) });
      });
  };
  const methods = {};
  for (const name of Object.keys(factorPkg.Factor.service)) {
    const fn = factor[name[0].toLowerCase() + name.slice(1)];
    methods[name] = wrap(name, fn || (() => { throw new FactorError('UNSUPPORTED', `${name} is not implemented`); }));
  }
  server.addService(factorPkg.Factor.service, methods);
  server.addService(health.Health.service, { Check: (_call, cb) => cb(null, { status: 'SERVING' }) });
  server.addService(controller.GRPCController.service, {
    Shutdown: (_call, cb) => {
      cb(null, {});
      setTimeout(() => server.tryShutdown(() => process.exit(0)), 10);
    },
  });

  let creds = grpc.ServerCredentials.createInsecure();
  let certLine = '';
  const clientCert = process.env.PLUGIN_CLIENT_CERT;
  if (clientCert) {
    const { certPem, keyPem, der } = selfSignedCert(require('node-forge'));
    creds = grpc.ServerCredentials.createSsl(Buffer.from(clientCert), [{ private_key: Buffer.from(keyPem), cert_chain: Buffer.from(certPem) }], true);
    certLine = der.toString('base64').replace(/=+$/, ''); // base64.RawStdEncoding
  }
  const dir = process.env.PLUGIN_UNIX_SOCKET_DIR || os.tmpdir();
  const sock = path.join(dir, `plugin${crypto.randomBytes(5).toString('hex')}`);
  server.bindAsync(`unix://${sock}`, creds, (err) => {
    if (err) {
      process.stderr.write(`listen on ${sock}: ${err.message}\n`);
      process.exit(1);
    }
    // go-plugin's handshake: core version|app version|network|address|protocol|server cert
    process.stdout.write(`1|${version}|unix|${sock}|grpc|${certLine}\n`);
  });
  const stop = () => server.tryShutdown(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', () => {}); // the host sends SIGINT to its process group: it stops us itself
}

module.exports = { serve, FactorError };

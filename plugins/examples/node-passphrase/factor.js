// The passphrase factor itself: the part a vendor writes. It speaks the
// types of factors/proto/factor.proto as plain objects (bytes are Buffers)
// and fails with FactorError (see errors below); plugin.js does the rest.
'use strict';

const crypto = require('node:crypto');
const { FactorError } = require('./plugin');

let minLength = 8;
let crashForTests = false;

function parse(bytes) {
  let r;
  try {
    r = JSON.parse(Buffer.from(bytes || []).toString('utf8'));
  } catch {
    throw new FactorError('BAD_REQUEST', 'the response is not JSON');
  }
  if (crashForTests && r && r.crash === true) process.exit(3); // a crash mid-call, for Twofold's tests
  if (!r || typeof r !== 'object' || typeof r.passphrase !== 'string' || Object.keys(r).length !== 1) {
    throw new FactorError('BAD_REQUEST', 'want {"passphrase": "..."}');
  }
  return r.passphrase;
}

const digest = (salt, p) => crypto.createHash('sha256').update(salt).update(p, 'utf8').digest();

module.exports = {
  describe: () => ({
    id: 'node-passphrase',
    display_name: 'Passphrase (Node.js example)',
    version: '1.0.0',
    capabilities: [],
    setting_schema: [
      { name: 'min_length', type: 'SETTING_TYPE_INT', default_value: '8', description: 'fewest characters a passphrase may have, 8-128' },
      { name: 'crash_for_tests', type: 'SETTING_TYPE_BOOL', default_value: 'false', description: 'for Twofold\'s own tests: {"crash": true} ends the process mid-call' },
    ],
  }),

  configure: ({ settings }) => {
    let min = 8;
    let crash = false;
    for (const [k, v] of Object.entries(settings || {})) {
      if (k === 'min_length') {
        min = Number(v);
        if (!Number.isInteger(min) || min < 8 || min > 128) throw new FactorError('BAD_REQUEST', 'min_length must be 8-128');
      } else if (k === 'crash_for_tests') {
        crash = v === 'true' || v === '1';
      } else {
        throw new FactorError('BAD_REQUEST', `unknown setting "${k}"`);
      }
    }
    minLength = min;
    crashForTests = crash;
    return {};
  },

  beginEnrollment: () => ({ client_data: Buffer.from(JSON.stringify({ prompt: `choose a passphrase of ${minLength}+ characters` })) }),

  finishEnrollment: ({ response }) => {
    const p = parse(response);
    if ([...p].length < minLength) throw new FactorError('BAD_REQUEST', `the passphrase must have ${minLength} or more characters`);
    const salt = crypto.randomBytes(16);
    const state = { salt: salt.toString('base64'), hash: digest(salt, p).toString('base64') };
    return { state: Buffer.from(JSON.stringify(state)), label: 'Passphrase' };
  },

  beginVerification: () => ({ client_data: Buffer.from('{}') }),

  finishVerification: ({ credential, response }) => {
    let st;
    try {
      st = JSON.parse(Buffer.from(credential.state || []).toString('utf8'));
    } catch {
      throw new FactorError('BAD_REQUEST', 'unreadable credential state');
    }
    if (!st || typeof st.salt !== 'string' || typeof st.hash !== 'string') throw new FactorError('BAD_REQUEST', 'unreadable credential state');
    const p = parse(response);
    const want = Buffer.from(st.hash, 'base64');
    const got = digest(Buffer.from(st.salt, 'base64'), p);
    if (want.length !== got.length || !crypto.timingSafeEqual(want, got)) throw new FactorError('INVALID_RESPONSE', 'wrong passphrase');
    return { state: credential.state };
  },

  identifyCredential: () => {
    throw new FactorError('UNSUPPORTED', 'a passphrase does not identify its credential');
  },
};

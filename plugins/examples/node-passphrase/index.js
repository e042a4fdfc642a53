#!/usr/bin/env node
// A Twofold factor plugin in Node.js: a passphrase the user chooses at
// enrolment and types at login, an example for vendors (not a real second
// factor). factor.js is the factor; plugin.js speaks go-plugin's protocol.
'use strict';

require('./plugin').serve(require('./factor'));

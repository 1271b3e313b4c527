#!/usr/bin/env node
// Renders json-e cases with the reference implementation (npm json-e,
// pinned in package.json / package-lock.json) for sw.jsone's differential
// test.
//
//   node tests/jsone/render.js [FILE]
//
// Input (FILE or stdin): a JSON array of {"template": ..., "context": ...}.
// Output (stdout): a JSON array with, per case, one of
//   {"result": value}             (non-finite numbers as {"$number": "NaN"})
//   {"undefined": true}           (json-e returned undefined)
//   {"error": {"kind": "TemplateError", "message": "TemplateError at ...",
//              "jsone": true}}     (jsone false: a JavaScript runtime error)
'use strict';
const fs = require('fs');
const path = require('path');

let jsone;
try {
  jsone = require(path.join(__dirname, 'node_modules', 'json-e'));
} catch (e) {
  process.stderr.write('tests/jsone: json-e is not installed; run `make deps`\n');
  process.exit(3);
}
const {JSONTemplateError} = require(path.join(__dirname, 'node_modules', 'json-e', 'src', 'error'));

const input = fs.readFileSync(process.argv[2] || 0, 'utf8');
const cases = JSON.parse(input);

function replacer(key, value) {
  if (typeof value === 'number' && !Number.isFinite(value)) {
    return {$number: String(value)};
  }
  return value;
}

const out = cases.map(c => {
  try {
    const result = jsone(c.template, c.context);
    if (result === undefined) {
      return {undefined: true};
    }
    return {result};
  } catch (err) {
    const isJsone = err instanceof JSONTemplateError;
    return {
      error: {
        kind: isJsone ? err.name : 'JS:' + (err && err.name),
        message: String(err),
        jsone: isJsone,
      },
    };
  }
});
process.stdout.write(JSON.stringify(out, replacer));

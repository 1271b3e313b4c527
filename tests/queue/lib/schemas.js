// Loads the official API references and JSON schemas from references.json and
// validates request and response bodies against them with Ajv, the way
// Taskcluster's lib-validate does: every schema registered by its $id (made
// absolute under a base URL, because Ajv resolves relative $refs against it),
// the draft-06 meta-schema added, formats from ajv-formats, allErrors.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));

// The shared references live beside the repository (../shared from its root);
// a checkout elsewhere (a git worktree) names them in QUEUE_EMULATOR_REFERENCES.
export const DEFAULT_REFERENCES = process.env.QUEUE_EMULATOR_REFERENCES || path.resolve(
  here, '..', '..', '..', '..', 'shared', 'taskcluster', 'references.json');

// Schema ids are root-relative (/schemas/queue/v1/task.json#); Ajv needs an
// absolute base to resolve relative $refs such as "task.json#".  The host is
// never contacted.
export const SCHEMA_BASE = 'https://tc-tests.example.com';

const DRAFT06 = 'http://json-schema.org/draft-06/schema#';

export class Schemas {
  constructor(referencesFile = DEFAULT_REFERENCES) {
    const raw = JSON.parse(fs.readFileSync(referencesFile, 'utf8'));
    if (!Array.isArray(raw)) {
      throw new Error(`${referencesFile}: expected a JSON array of {filename, content}`);
    }
    this.file = referencesFile;
    this.references = new Map();
    this.schemaIds = new Set();
    const schemas = [];
    for (const { filename, content } of raw) {
      if (filename.startsWith('references/')) {
        this.references.set(filename, content);
      } else if (filename.startsWith('schemas/')) {
        schemas.push(this._absolute(content));
      }
    }
    // Requests get defaults filled in (useDefaults), as the real services do.
    // Responses are validated by a second instance without defaults, so a
    // response missing a defaulted field is reported instead of silently
    // repaired.
    this.requestAjv = this._makeAjv(schemas, true);
    this.responseAjv = this._makeAjv(schemas, false);
  }

  _absolute(schema) {
    const copy = structuredClone(schema);
    if (typeof copy.$id === 'string' && copy.$id.startsWith('/')) {
      copy.$id = SCHEMA_BASE + copy.$id;
    }
    // Every schema is draft-06 underneath; Taskcluster's own meta-schemas only
    // add documentation constraints, which validateSchema: false skips anyway.
    copy.$schema = DRAFT06;
    this.schemaIds.add(copy.$id);
    return copy;
  }

  _makeAjv(schemas, useDefaults) {
    const ajv = new Ajv({
      strict: false,
      allErrors: true,
      useDefaults,
      validateSchema: false,
      verbose: false,
    });
    ajv.addMetaSchema(require('ajv/dist/refs/json-schema-draft-06.json'));
    addFormats(ajv);
    for (const schema of schemas) {
      ajv.addSchema(schema);
    }
    return ajv;
  }

  // Resolves an API entry's relative schema name ("v1/task.json#") for a
  // service into the absolute $id.
  idFor(serviceName, relative) {
    return `${SCHEMA_BASE}/schemas/${serviceName}/${relative}`;
  }

  api(serviceName) {
    const ref = this.references.get(`references/${serviceName}/v1/api.json`);
    if (!ref) {
      throw new Error(`${this.file}: no API reference for service ${serviceName}`);
    }
    return ref;
  }

  // Returns null when valid, else the error text in lib-validate's shape.
  validate(kind, id, value) {
    const ajv = kind === 'request' ? this.requestAjv : this.responseAjv;
    const validator = ajv.getSchema(id);
    if (!validator) {
      throw new Error(`no schema with id ${id}`);
    }
    if (validator(value)) {
      return null;
    }
    const text = ajv.errorsText(validator.errors, { separator: '\n  * ', dataVar: 'data' });
    return `\nSchema Validation Failed!\nRejecting Schema: ${id.replace(SCHEMA_BASE, '')}\n` +
      `Errors:\n  * ${text}`;
  }
}
